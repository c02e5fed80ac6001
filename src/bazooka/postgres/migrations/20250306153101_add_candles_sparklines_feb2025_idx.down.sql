-- bazooka:no-transaction
-- the original down drops without concurrently
drop index if exists add_candles_sparklines_feb2025_idx;
