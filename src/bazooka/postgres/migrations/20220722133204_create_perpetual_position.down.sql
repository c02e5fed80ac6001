drop table if exists "perpetual_positions";
