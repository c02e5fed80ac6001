drop table if exists "perpetual_markets";
