alter table "perpetual_markets" drop constraint "perpetual_markets_marketid_foreign";
