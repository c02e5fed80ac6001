-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "perpetual_positions_subaccountId_perpetualId_openEventId_index";
