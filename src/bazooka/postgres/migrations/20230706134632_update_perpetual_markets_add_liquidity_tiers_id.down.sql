alter table "perpetual_markets" drop constraint "perpetual_markets_liquiditytierid_foreign";
alter table "perpetual_markets" drop column "liquidityTierId";
