-- bazooka:no-transaction
-- quoted mixed-case index name is kept as is
CREATE INDEX CONCURRENTLY IF NOT EXISTS "perpetual_positions_subaccountId_perpetualId_openEventId_index" ON "perpetual_positions" ("subaccountId", "perpetualId", "openEventId" DESC);
