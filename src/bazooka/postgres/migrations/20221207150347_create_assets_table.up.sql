create table "assets" (
  "id" varchar(255),
  "denom" varchar(255) not null,
  "atomicResolution" integer not null,
  "hasMarket" boolean not null,
  "marketId" integer null
);
alter table "assets" add constraint "assets_pkey" primary key ("id");
alter table "assets" add constraint "assets_denom_unique" unique ("denom");
create index "assets_denom_index" on "assets" ("denom");
create index "assets_marketid_index" on "assets" ("marketId");
