drop table if exists "trading_rewards";
