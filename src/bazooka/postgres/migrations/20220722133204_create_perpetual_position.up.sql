create table "perpetual_positions" (
  "id" uuid,
  "subaccountId" uuid not null,
  "perpetualId" bigint not null,
  "side" text check ("side" in ('LONG', 'SHORT')) not null,
  "status" text check ("status" in ('OPEN', 'CLOSED', 'LIQUIDATED')) not null,
  "size" decimal not null,
  "maxSize" decimal not null,
  "entryPrice" decimal not null,
  "exitPrice" decimal null,
  "sumOpen" decimal not null,
  "sumClose" decimal not null,
  "createdAt" timestamptz not null,
  "closedAt" timestamptz null,
  "createdAtHeight" bigint not null,
  "closedAtHeight" bigint null,
  "openEventId" bytea not null,
  "closeEventId" bytea null,
  "lastEventId" bytea not null,
  "settledFunding" decimal not null
);
alter table "perpetual_positions" add constraint "perpetual_positions_pkey" primary key ("id");
alter table "perpetual_positions" add constraint "perpetual_positions_perpetualid_foreign" foreign key ("perpetualId") references "perpetual_markets" ("id");
alter table "perpetual_positions" add constraint "perpetual_positions_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
create index "perpetual_positions_subaccountid_status_index" on "perpetual_positions" ("subaccountId", "status");
create index "perpetual_positions_subaccountid_createdat_index" on "perpetual_positions" ("subaccountId", "createdAt");
create index "perpetual_positions_subaccountid_createdatheight_index" on "perpetual_positions" ("subaccountId", "createdAtHeight");
create index "perpetual_positions_perpetualid_status_index" on "perpetual_positions" ("perpetualId", "status");
