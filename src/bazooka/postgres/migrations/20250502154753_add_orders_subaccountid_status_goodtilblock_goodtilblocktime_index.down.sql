-- bazooka:no-transaction
drop index concurrently if exists orders_subaccountid_status_goodtilblock_goodtilblocktime_index;
