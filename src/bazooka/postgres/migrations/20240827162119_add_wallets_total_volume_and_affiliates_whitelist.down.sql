alter table "wallets" drop column "totalVolume";
alter table "wallets" drop column "isWhitelistAffiliate";
