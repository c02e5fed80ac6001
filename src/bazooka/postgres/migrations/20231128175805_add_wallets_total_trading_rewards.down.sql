alter table "wallets" drop column "totalTradingRewards";
