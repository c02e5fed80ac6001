alter table "perpetual_positions" add column "totalRealizedPnl" decimal null;
alter table "fills" add column "positionSizeBefore" decimal null, add column "entryPriceBefore" decimal null, add column "positionSideBefore" text check ("positionSideBefore" in ('LONG', 'SHORT')) null default null;
