create table "pnl" (
  "subaccountId" uuid not null,
  "createdAt" timestamptz not null,
  "createdAtHeight" bigint not null,
  "equity" decimal not null,
  "netTransfers" decimal not null,
  "totalPnl" decimal not null
);
alter table "pnl" add constraint "pnl_pkey" primary key ("subaccountId", "createdAt");
alter table "pnl" add constraint "pnl_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
create index "pnl_createdatheight_index" on "pnl" ("createdAtHeight");
