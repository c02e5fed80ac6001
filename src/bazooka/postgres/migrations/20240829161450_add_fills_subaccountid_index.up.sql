-- bazooka:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS "fills_subaccountid_index" ON "fills" ("subaccountId");
