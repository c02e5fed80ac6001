-- down gives decimal(8, 2) (knex default precision), not the original plain numeric; default not restored
alter table "wallets" alter column "totalTradingRewards" drop default;
alter table "wallets" alter column "totalTradingRewards" drop not null;
alter table "wallets" alter column "totalTradingRewards" type decimal(8, 2) using ("totalTradingRewards"::decimal(8, 2));
alter table "wallets" alter column "totalTradingRewards" set not null;
