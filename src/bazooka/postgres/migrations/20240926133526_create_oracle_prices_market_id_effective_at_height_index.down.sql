-- bazooka:no-transaction
drop index concurrently if exists "oracle_prices_marketid_effectiveatheight_index";
