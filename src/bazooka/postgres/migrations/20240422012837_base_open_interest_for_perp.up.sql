alter table "perpetual_markets" add column "baseOpenInterest" numeric default '0';
