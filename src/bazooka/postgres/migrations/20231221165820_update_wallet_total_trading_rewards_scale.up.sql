-- knex .alter() drops the default '0' and does not restore it
alter table "wallets" alter column "totalTradingRewards" drop default;
alter table "wallets" alter column "totalTradingRewards" drop not null;
alter table "wallets" alter column "totalTradingRewards" type decimal(27, 18) using ("totalTradingRewards"::decimal(27, 18));
alter table "wallets" alter column "totalTradingRewards" set not null;
