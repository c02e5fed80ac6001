-- bazooka:no-transaction
create index concurrently if not exists orders_subaccountid_status_goodtilblock_goodtilblocktime_index
  on orders ("subaccountId", status, "goodTilBlock" desc, "goodTilBlockTime" desc);
