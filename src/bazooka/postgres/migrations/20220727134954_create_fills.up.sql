create table "fills" (
  "id" uuid,
  "subaccountId" uuid not null,
  "side" text check ("side" in ('BUY', 'SELL')) not null,
  "liquidity" text check ("liquidity" in ('TAKER', 'MAKER')) not null,
  "type" text check ("type" in ('MARKET', 'LIMIT', 'LIQUIDATED', 'LIQUIDATION')) not null,
  "clobPairId" bigint not null,
  "orderId" uuid null,
  "size" decimal not null,
  "price" decimal not null,
  "quoteAmount" decimal not null,
  "eventId" bytea not null,
  "transactionHash" varchar(255) not null,
  "createdAt" timestamptz not null,
  "createdAtHeight" bigint not null
);
alter table "fills" add constraint "fills_pkey" primary key ("id");
alter table "fills" add constraint "fills_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
alter table "fills" add constraint "fills_orderid_foreign" foreign key ("orderId") references "orders" ("id");
create index "fills_subaccountid_createdat_index" on "fills" ("subaccountId", "createdAt");
create index "fills_subaccountid_createdatheight_index" on "fills" ("subaccountId", "createdAtHeight");
create index "fills_subaccountid_clobpairid_index" on "fills" ("subaccountId", "clobPairId");
create index "fills_clobpairid_createdat_index" on "fills" ("clobPairId", "createdAt");
create index "fills_orderid_index" on "fills" ("orderId");
