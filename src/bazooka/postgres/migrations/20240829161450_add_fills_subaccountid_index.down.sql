-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "fills_subaccountid_index";
