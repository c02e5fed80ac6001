-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "subaccounts_updatedat_index";
