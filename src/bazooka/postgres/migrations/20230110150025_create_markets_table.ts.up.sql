create table "markets" (
  "id" integer,
  "pair" varchar(255) not null,
  "exponent" integer not null,
  "minPriceChangePpm" integer not null,
  "oraclePrice" decimal null
);
alter table "markets" add constraint "markets_pkey" primary key ("id");
alter table "markets" add constraint "markets_pair_unique" unique ("pair");
create index "markets_pair_index" on "markets" ("pair");
