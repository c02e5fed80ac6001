-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "candles_ticker_resolution_index";
