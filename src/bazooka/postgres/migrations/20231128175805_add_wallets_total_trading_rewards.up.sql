alter table "wallets" add column "totalTradingRewards" decimal not null default '0';
