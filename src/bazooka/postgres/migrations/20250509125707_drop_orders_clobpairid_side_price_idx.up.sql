-- bazooka:no-transaction
drop index concurrently if exists orders_clobpairid_side_price_index;
