drop table if exists "trading_reward_aggregations";
