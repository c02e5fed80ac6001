-- bazooka:no-transaction
create index concurrently if not exists fills_createdatheight_index on fills ("createdAtHeight");
