-- bazooka:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS "candles_started_at_index" ON "candles" ("startedAt");
