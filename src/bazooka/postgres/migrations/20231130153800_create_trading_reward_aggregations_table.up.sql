create table "trading_reward_aggregations" (
  "id" uuid,
  "address" varchar(255) not null,
  "startedAt" timestamptz not null,
  "startedAtHeight" bigint not null,
  "endedAt" timestamptz null,
  "endedAtHeight" bigint null,
  "period" text check ("period" in ('DAILY', 'WEEKLY', 'MONTHLY')) not null,
  "amount" decimal(8, 2) not null
);
alter table "trading_reward_aggregations" add constraint "trading_reward_aggregations_pkey" primary key ("id");
alter table "trading_reward_aggregations" add constraint "trading_reward_aggregations_address_foreign" foreign key ("address") references "wallets" ("address");
alter table "trading_reward_aggregations" add constraint "trading_reward_aggregations_startedatheight_foreign" foreign key ("startedAtHeight") references "blocks" ("blockHeight");
create index "trading_reward_aggregations_address_startedatheight_index" on "trading_reward_aggregations" ("address", "startedAtHeight");
create index "trading_reward_aggregations_period_startedatheight_index" on "trading_reward_aggregations" ("period", "startedAtHeight");
