alter table "perpetual_markets" drop column "baseAsset";
alter table "perpetual_markets" drop column "quoteAsset";
alter table "perpetual_markets" drop column "basePositionSize";
alter table "perpetual_markets" drop column "incrementalPositionSize";
alter table "perpetual_markets" drop column "maxPositionSize";
