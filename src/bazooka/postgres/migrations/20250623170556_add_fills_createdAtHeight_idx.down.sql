-- bazooka:no-transaction
drop index concurrently if exists fills_createdatheight_index;
