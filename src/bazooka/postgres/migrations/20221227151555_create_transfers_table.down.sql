drop table if exists "transfers";
