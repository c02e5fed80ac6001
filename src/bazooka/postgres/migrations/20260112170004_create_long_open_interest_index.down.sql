-- bazooka:no-transaction
drop index concurrently if exists "perpetual_positions_oi_open_idx";
