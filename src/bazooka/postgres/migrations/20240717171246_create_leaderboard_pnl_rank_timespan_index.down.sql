-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "leaderboard_pnl_rank_timespan_index";
