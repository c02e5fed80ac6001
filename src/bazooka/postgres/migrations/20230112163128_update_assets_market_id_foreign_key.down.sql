alter table "assets" drop constraint "assets_marketid_foreign";
