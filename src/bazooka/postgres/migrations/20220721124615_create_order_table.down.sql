drop table if exists "orders";
