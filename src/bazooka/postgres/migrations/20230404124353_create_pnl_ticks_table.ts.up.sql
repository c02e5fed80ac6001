create table "pnl_ticks" (
  "id" uuid,
  "subaccountId" uuid not null,
  "equity" decimal not null,
  "totalPnl" decimal not null,
  "netTransfers" decimal not null,
  "createdAt" timestamptz not null,
  "blockHeight" bigint not null,
  "blockTime" timestamptz not null
);
alter table "pnl_ticks" add constraint "pnl_ticks_pkey" primary key ("id");
alter table "pnl_ticks" add constraint "pnl_ticks_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
-- The composite foreign(['blockHeight','blockTime']).references([...]) emits no SQL in Knex 0.21 (no inTable), so no FK here.
create index "pnl_ticks_subaccountid_createdat_index" on "pnl_ticks" ("subaccountId", "createdAt");
create index "pnl_ticks_createdat_index" on "pnl_ticks" ("createdAt");
