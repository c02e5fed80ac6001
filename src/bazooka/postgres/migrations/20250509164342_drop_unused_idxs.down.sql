-- bazooka:no-transaction
create index concurrently if not exists oracle_prices_marketid_index on oracle_prices ("marketId");
create index concurrently if not exists tendermint_events_blockheight_index on tendermint_events ("blockHeight");
create index concurrently if not exists transactions_blockheight_index on transactions ("blockHeight");
