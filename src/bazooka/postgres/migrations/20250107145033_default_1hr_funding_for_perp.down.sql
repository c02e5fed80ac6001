alter table "perpetual_markets" drop column "defaultFundingRate1H";
