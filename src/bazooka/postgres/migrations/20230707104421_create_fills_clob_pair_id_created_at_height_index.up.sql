-- bazooka:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS "fills_clobPairId_createdAtHeight_partial" ON "fills" ("clobPairId", "createdAtHeight") WHERE "liquidity" = 'TAKER';
