create table "bridge_information" (
  "id" varchar(255),
  "from_address" varchar(255) not null,
  "chain_id" varchar(255) not null,
  "amount" varchar(255) not null,
  "transaction_hash" varchar(255) null,
  "created_at" timestamptz not null
);
alter table "bridge_information" add constraint "bridge_information_pkey" primary key ("id");
alter table "bridge_information" add constraint "bridge_information_transaction_hash_unique" unique ("transaction_hash");
create index "idx_bridge_information_from_address" on "bridge_information" ("from_address");
