-- bazooka:no-transaction
-- no-op: quoted mixed-case name never exists (up created the lower-cased one), so the index stays
DROP INDEX CONCURRENTLY IF EXISTS "orders_clobPairId_subaccountId_index";
