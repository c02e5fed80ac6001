-- bazooka:no-transaction
-- no-transaction in the original, though not concurrently
create index oracle_prices_market_height_desc_inc_price on "oracle_prices" ("marketId", "effectiveAtHeight" desc) include ("price");
