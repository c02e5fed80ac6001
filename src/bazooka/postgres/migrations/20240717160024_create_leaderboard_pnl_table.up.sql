create table "leaderboard_pnl" (
  "address" varchar(255) not null,
  "timeSpan" text check ("timeSpan" in ('ONE_DAY', 'SEVEN_DAYS', 'THIRTY_DAYS', 'ONE_YEAR', 'ALL_TIME')),
  "pnl" varchar(255) not null,
  "currentEquity" varchar(255) not null,
  "rank" integer not null
);
alter table "leaderboard_pnl" add constraint "leaderboard_pnl_pkey" primary key ("address", "timeSpan");
alter table "leaderboard_pnl" add constraint "leaderboard_pnl_address_foreign" foreign key ("address") references "wallets" ("address");
