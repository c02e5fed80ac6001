create table "transfers" (
  "id" uuid,
  "senderSubaccountId" uuid not null,
  "recipientSubaccountId" uuid not null,
  "assetId" varchar(255) not null,
  "size" decimal not null,
  "eventId" bytea not null,
  "transactionHash" varchar(255) not null,
  "createdAt" timestamptz not null,
  "createdAtHeight" bigint not null
);
alter table "transfers" add constraint "transfers_pkey" primary key ("id");
alter table "transfers" add constraint "transfers_sendersubaccountid_foreign" foreign key ("senderSubaccountId") references "subaccounts" ("id");
alter table "transfers" add constraint "transfers_recipientsubaccountid_foreign" foreign key ("recipientSubaccountId") references "subaccounts" ("id");
alter table "transfers" add constraint "transfers_assetid_foreign" foreign key ("assetId") references "assets" ("id");
alter table "transfers" add constraint "transfers_eventid_foreign" foreign key ("eventId") references "tendermint_events" ("id");
create index "transfers_sendersubaccountid_createdat_index" on "transfers" ("senderSubaccountId", "createdAt");
create index "transfers_sendersubaccountid_createdatheight_index" on "transfers" ("senderSubaccountId", "createdAtHeight");
create index "transfers_recipientsubaccountid_createdat_index" on "transfers" ("recipientSubaccountId", "createdAt");
create index "transfers_recipientsubaccountid_createdatheight_index" on "transfers" ("recipientSubaccountId", "createdAtHeight");
create index "transfers_assetid_createdat_index" on "transfers" ("assetId", "createdAt");
