create table "liquidity_tiers" (
  "id" integer,
  "name" varchar(255) null,
  "initialMarginPpm" bigint not null,
  "maintenanceFractionPpm" bigint not null,
  "basePositionNotional" decimal not null
);
alter table "liquidity_tiers" add constraint "liquidity_tiers_pkey" primary key ("id");
