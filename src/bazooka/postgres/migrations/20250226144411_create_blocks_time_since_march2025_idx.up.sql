-- bazooka:no-transaction
create index concurrently if not exists "blocks_time_since_march2025_idx" on "blocks" ("time") where "time" >= '2025-03-01 00:00:00+00';
