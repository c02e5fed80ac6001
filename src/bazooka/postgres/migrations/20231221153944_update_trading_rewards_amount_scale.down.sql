alter table "trading_rewards" alter column "amount" drop default;
alter table "trading_rewards" alter column "amount" drop not null;
alter table "trading_rewards" alter column "amount" type decimal(8, 2) using ("amount"::decimal(8, 2));
alter table "trading_rewards" alter column "amount" set not null;
