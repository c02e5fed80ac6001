-- bazooka:no-transaction
-- not an inverse: also creates fills_clobpairid_createdatheight_partial (name folded) and fills_type_index
create index concurrently if not exists fills_clobPairId_createdAtHeight_partial on fills ("clobPairId", "createdAtHeight") where liquidity = 'TAKER';
create index concurrently if not exists fills_clobpairid_createdat_index on fills ("clobPairId", "createdAt");
create index concurrently if not exists fills_orderid_index on fills ("orderId");
create index concurrently if not exists fills_subaccountid_createdat_index on fills ("subaccountId", "createdAt");
create index concurrently if not exists fills_subaccountid_index on fills ("subaccountId");
create index concurrently if not exists fills_type_index on fills (type);
