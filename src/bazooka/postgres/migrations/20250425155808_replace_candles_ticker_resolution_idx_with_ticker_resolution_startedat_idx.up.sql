-- bazooka:no-transaction
drop index concurrently if exists candles_ticker_resolution_index;
create index concurrently if not exists candles_ticker_resolution_startedat_index on candles (ticker, resolution, "startedAt" desc);
