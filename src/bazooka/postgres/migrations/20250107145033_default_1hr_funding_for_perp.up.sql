alter table "perpetual_markets" add column "defaultFundingRate1H" decimal default '0';
