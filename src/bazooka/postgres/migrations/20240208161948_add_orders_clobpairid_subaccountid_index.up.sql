-- bazooka:no-transaction
-- unquoted name folds to orders_clobpairid_subaccountid_index
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_clobPairId_subaccountId_index ON orders("clobPairId", "subaccountId");
