create table "funding_index_updates" (
  "id" uuid,
  "perpetualId" bigint not null,
  "eventId" bytea not null,
  "rate" decimal not null,
  "oraclePrice" decimal not null,
  "fundingIndex" decimal not null,
  "effectiveAt" timestamptz not null,
  "effectiveAtHeight" bigint not null
);
alter table "funding_index_updates" add constraint "funding_index_updates_pkey" primary key ("id");
alter table "funding_index_updates" add constraint "funding_index_updates_eventid_foreign" foreign key ("eventId") references "tendermint_events" ("id");
alter table "funding_index_updates" add constraint "funding_index_updates_perpetualid_foreign" foreign key ("perpetualId") references "perpetual_markets" ("id");
alter table "funding_index_updates" add constraint "funding_index_updates_effectiveatheight_foreign" foreign key ("effectiveAtHeight") references "blocks" ("blockHeight");
create index "funding_index_updates_perpetualid_index" on "funding_index_updates" ("perpetualId");
create index "funding_index_updates_effectiveatheight_index" on "funding_index_updates" ("effectiveAtHeight");
