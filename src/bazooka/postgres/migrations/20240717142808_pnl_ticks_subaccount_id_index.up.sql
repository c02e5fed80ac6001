-- bazooka:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS "pnl_ticks_subaccountid_index" ON "pnl_ticks" ("subaccountId");
