create table "oracle_prices" (
  "id" uuid,
  "marketId" integer not null,
  "price" decimal not null,
  "effectiveAt" timestamptz not null,
  "effectiveAtHeight" bigint not null
);
alter table "oracle_prices" add constraint "oracle_prices_pkey" primary key ("id");
alter table "oracle_prices" add constraint "oracle_prices_marketid_foreign" foreign key ("marketId") references "markets" ("id");
alter table "oracle_prices" add constraint "oracle_prices_effectiveatheight_foreign" foreign key ("effectiveAtHeight") references "blocks" ("blockHeight");
create index "oracle_prices_marketid_effectiveat_index" on "oracle_prices" ("marketId", "effectiveAt");
create index "oracle_prices_marketid_index" on "oracle_prices" ("marketId");
