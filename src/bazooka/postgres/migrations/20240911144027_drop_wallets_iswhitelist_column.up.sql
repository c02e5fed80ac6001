alter table "wallets" drop column "isWhitelistAffiliate";
