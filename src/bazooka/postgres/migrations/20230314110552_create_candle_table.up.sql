create table "candles" (
  "id" uuid,
  "startedAt" timestamptz not null,
  "ticker" varchar(255) not null,
  "resolution" text check ("resolution" in ('1MIN', '5MINS', '15MINS', '30MINS', '1HOUR', '4HOURS', '1DAY')) not null,
  "low" decimal not null,
  "high" decimal not null,
  "open" decimal not null,
  "close" decimal not null,
  "baseTokenVolume" decimal not null,
  "usdVolume" decimal not null,
  "trades" integer not null,
  "startingOpenInterest" decimal not null
);
alter table "candles" add constraint "candles_pkey" primary key ("id");
