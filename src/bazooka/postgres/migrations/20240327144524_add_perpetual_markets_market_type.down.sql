alter table "perpetual_markets" drop column "marketType";
