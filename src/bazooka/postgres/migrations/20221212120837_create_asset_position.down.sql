drop table if exists "asset_positions";
