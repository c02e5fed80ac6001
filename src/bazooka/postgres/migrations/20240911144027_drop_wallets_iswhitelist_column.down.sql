alter table "wallets" add column "isWhitelistAffiliate" boolean not null default '0';
