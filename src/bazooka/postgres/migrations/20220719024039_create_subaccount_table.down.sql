drop table if exists "subaccounts";
