-- bazooka:no-transaction
drop index if exists "oracle_prices_market_height_desc_inc_price";
