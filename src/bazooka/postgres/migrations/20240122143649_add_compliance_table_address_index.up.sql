-- bazooka:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS "compliance_data_address_index" ON "compliance_data" ("address");
