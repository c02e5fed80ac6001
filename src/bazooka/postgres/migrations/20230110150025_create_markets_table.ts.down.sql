drop table if exists "markets";
