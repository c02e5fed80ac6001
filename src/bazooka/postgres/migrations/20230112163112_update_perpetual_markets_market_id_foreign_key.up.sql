alter table "perpetual_markets" add constraint "perpetual_markets_marketid_foreign" foreign key ("marketId") references "markets" ("id");
