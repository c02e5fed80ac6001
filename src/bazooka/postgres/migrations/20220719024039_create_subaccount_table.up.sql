create table "subaccounts" (
  "id" uuid,
  "address" varchar(255) not null,
  "subaccountNumber" integer not null,
  "updatedAt" timestamptz not null,
  "updatedAtHeight" bigint not null
);
create index "subaccounts_address_index" on "subaccounts" ("address");
alter table "subaccounts" add constraint "subaccounts_pkey" primary key ("id");
