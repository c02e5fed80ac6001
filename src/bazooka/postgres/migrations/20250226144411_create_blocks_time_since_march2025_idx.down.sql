-- bazooka:no-transaction
drop index concurrently if exists "blocks_time_since_march2025_idx";
