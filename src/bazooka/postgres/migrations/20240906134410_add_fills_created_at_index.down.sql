-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "fills_createdat_index";
