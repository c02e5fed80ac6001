create table "trading_rewards" (
  "id" uuid,
  "address" varchar(255) not null,
  "blockTime" timestamptz not null,
  "blockHeight" bigint not null,
  "amount" decimal(8, 2) not null
);
alter table "trading_rewards" add constraint "trading_rewards_pkey" primary key ("id");
alter table "trading_rewards" add constraint "trading_rewards_address_foreign" foreign key ("address") references "wallets" ("address");
create index "trading_rewards_address_index" on "trading_rewards" ("address");
create index "trading_rewards_blocktime_index" on "trading_rewards" ("blockTime");
create index "trading_rewards_blockheight_index" on "trading_rewards" ("blockHeight");
