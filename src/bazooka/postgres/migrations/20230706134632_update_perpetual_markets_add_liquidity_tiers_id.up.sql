alter table "perpetual_markets" add column "liquidityTierId" integer not null default '0';
alter table "perpetual_markets" add constraint "perpetual_markets_liquiditytierid_foreign" foreign key ("liquidityTierId") references "liquidity_tiers" ("id");
