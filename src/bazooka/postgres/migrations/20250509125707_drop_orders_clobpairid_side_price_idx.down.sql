-- bazooka:no-transaction
create index concurrently if not exists orders_clobpairid_side_price_index on orders ("clobPairId", side, price);
