-- bazooka:no-transaction
create index concurrently if not exists "orders_open_shortterm_idx" on "orders" ("goodTilBlock")
  where status = 'OPEN' and "orderFlags" = 0 and "goodTilBlock" is not null;
