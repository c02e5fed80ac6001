-- bazooka:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "compliance_data_address_index";
