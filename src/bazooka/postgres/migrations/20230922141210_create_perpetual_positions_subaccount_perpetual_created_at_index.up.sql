-- bazooka:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS "perpetual_positions_subaccount_perpetual_created_at_index" ON "perpetual_positions" ("subaccountId", "createdAtHeight", "perpetualId");
DROP INDEX CONCURRENTLY IF EXISTS "perpetual_positions_subaccountid_createdatheight_index";
