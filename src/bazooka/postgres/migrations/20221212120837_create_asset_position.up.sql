create table "asset_positions" (
  "id" uuid,
  "assetId" varchar(255) not null,
  "subaccountId" uuid not null,
  "size" decimal not null,
  "isLong" boolean not null
);
alter table "asset_positions" add constraint "asset_positions_pkey" primary key ("id");
alter table "asset_positions" add constraint "asset_positions_assetid_foreign" foreign key ("assetId") references "assets" ("id");
alter table "asset_positions" add constraint "asset_positions_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
create index "asset_positions_subaccountid_index" on "asset_positions" ("subaccountId");
create index "asset_positions_subaccountid_assetid_index" on "asset_positions" ("subaccountId", "assetId");
