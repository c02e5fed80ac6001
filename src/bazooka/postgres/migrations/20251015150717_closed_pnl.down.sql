alter table "perpetual_positions" drop column "totalRealizedPnl";
alter table "fills" drop column "positionSizeBefore";
alter table "fills" drop column "entryPriceBefore";
alter table "fills" drop column "positionSideBefore";
