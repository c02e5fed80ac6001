-- bazooka:no-transaction
create index concurrently perpetual_positions_oi_open_idx on perpetual_positions ("perpetualId", side) include (size) where status = 'OPEN';
