create table "transactions" (
  "id" uuid,
  "blockHeight" bigint not null,
  "transactionIndex" integer not null,
  "transactionHash" varchar(255) not null
);
alter table "transactions" add constraint "transactions_pkey" primary key ("id");
create index "transactions_blockheight_index" on "transactions" ("blockHeight");
create index "transactions_blockheight_transactionindex_index" on "transactions" ("blockHeight", "transactionIndex");
