drop table if exists "oracle_prices";
