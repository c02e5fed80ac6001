-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "candles_started_at_index";
