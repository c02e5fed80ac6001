drop table if exists "pnl";
