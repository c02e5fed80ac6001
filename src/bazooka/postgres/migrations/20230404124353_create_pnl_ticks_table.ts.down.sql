drop table if exists "pnl_ticks";
