alter table "perpetual_markets" drop column "initialMarginFraction";
alter table "perpetual_markets" drop column "incrementalInitialMarginFraction";
alter table "perpetual_markets" drop column "maintenanceMarginFraction";
