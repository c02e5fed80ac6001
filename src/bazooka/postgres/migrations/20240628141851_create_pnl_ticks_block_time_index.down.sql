-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "pnl_ticks_blocktime_index";
