create table "orders" (
  "id" uuid,
  "subaccountId" uuid not null,
  "clientId" bigint not null,
  "clobPairId" bigint not null,
  "side" text check ("side" in ('BUY', 'SELL')) not null,
  "size" decimal not null,
  "totalFilled" decimal not null,
  "price" decimal not null,
  "type" text check ("type" in ('LIMIT', 'MARKET', 'STOP_LIMIT', 'STOP_MARKET', 'TRAILING_STOP', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'LIQUIDATED', 'LIQUIDATION', 'HARD_TRADE', 'FAILED_HARD_TRADE', 'TRANSFER_PLACEHOLDER')) not null,
  "status" text check ("status" in ('OPEN', 'FILLED', 'CANCELED', 'BEST_EFFORT_CANCELED')) not null,
  "timeInForce" text check ("timeInForce" in ('GTT', 'FOK', 'IOC', 'POST_ONLY')) not null,
  "reduceOnly" boolean not null,
  "orderFlags" bigint not null,
  "goodTilBlock" bigint null,
  "goodTilBlockTime" timestamptz null,
  "createdAtHeight" bigint null,
  "clientMetadata" bigint not null
);
alter table "orders" add constraint "orders_pkey" primary key ("id");
alter table "orders" add constraint "orders_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
create index "orders_subaccountid_index" on "orders" ("subaccountId");
create index "orders_clobpairid_side_price_index" on "orders" ("clobPairId", "side", "price");
