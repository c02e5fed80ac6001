-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "pnl_ticks_subaccountid_index";
