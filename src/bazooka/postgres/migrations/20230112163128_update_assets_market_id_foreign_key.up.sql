alter table "assets" add constraint "assets_marketid_foreign" foreign key ("marketId") references "markets" ("id");
