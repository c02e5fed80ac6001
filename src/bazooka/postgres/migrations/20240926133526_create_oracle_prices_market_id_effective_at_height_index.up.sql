-- bazooka:no-transaction
create index concurrently if not exists "oracle_prices_marketid_effectiveatheight_index" on "oracle_prices" ("marketId", "effectiveAtHeight");
