create table "tendermint_events" (
  "id" bytea,
  "blockHeight" bigint not null,
  "transactionIndex" integer not null,
  "eventIndex" integer not null
);
alter table "tendermint_events" add constraint "tendermint_events_pkey" primary key ("id");
create index "tendermint_events_blockheight_index" on "tendermint_events" ("blockHeight");
create index "tendermint_events_blockheight_transactionindex_index" on "tendermint_events" ("blockHeight", "transactionIndex");
