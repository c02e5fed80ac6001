alter table "trading_rewards" alter column "amount" drop default;
alter table "trading_rewards" alter column "amount" drop not null;
alter table "trading_rewards" alter column "amount" type decimal(27, 18) using ("amount"::decimal(27, 18));
alter table "trading_rewards" alter column "amount" set not null;
