-- bazooka:no-transaction
drop index concurrently if exists oracle_prices_marketid_index;
drop index concurrently if exists tendermint_events_blockheight_index;
drop index concurrently if exists transactions_blockheight_index;
