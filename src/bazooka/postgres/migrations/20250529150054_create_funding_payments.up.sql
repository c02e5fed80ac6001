create table "funding_payments" (
  "subaccountId" uuid not null,
  "createdAt" timestamptz not null,
  "createdAtHeight" bigint not null,
  "perpetualId" bigint not null,
  "ticker" text not null,
  "oraclePrice" decimal not null,
  "size" decimal not null,
  "side" text check ("side" in ('LONG', 'SHORT')) not null,
  "rate" decimal not null,
  "payment" decimal not null,
  "fundingIndex" decimal not null
);
alter table "funding_payments" add constraint "funding_payments_pkey" primary key ("subaccountId", "createdAt", "ticker");
alter table "funding_payments" add constraint "funding_payments_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
alter table "funding_payments" add constraint "funding_payments_perpetualid_foreign" foreign key ("perpetualId") references "perpetual_markets" ("id");
create index "funding_payments_createdatheight_index" on "funding_payments" ("createdAtHeight");
