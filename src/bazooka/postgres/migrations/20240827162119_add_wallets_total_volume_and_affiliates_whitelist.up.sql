alter table "wallets" add column "totalVolume" numeric not null default '0';
alter table "wallets" add column "isWhitelistAffiliate" boolean not null default '0';
