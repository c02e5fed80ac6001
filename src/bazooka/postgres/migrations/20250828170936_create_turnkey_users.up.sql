create table "turnkey_users" (
  "suborg_id" text,
  "email" text null,
  "svm_address" text not null,
  "evm_address" text not null,
  "salt" text not null,
  "dydx_address" text null,
  "created_at" timestamptz not null,
  "smart_account_address" text null
);
alter table "turnkey_users" add constraint "turnkey_users_pkey" primary key ("suborg_id");
alter table "turnkey_users" add constraint "turnkey_users_email_unique" unique ("email");
alter table "turnkey_users" add constraint "turnkey_users_svm_address_unique" unique ("svm_address");
alter table "turnkey_users" add constraint "turnkey_users_evm_address_unique" unique ("evm_address");
alter table "turnkey_users" add constraint "turnkey_users_dydx_address_unique" unique ("dydx_address");
alter table "turnkey_users" add constraint "turnkey_users_smart_account_address_unique" unique ("smart_account_address");
create index "idx_turnkey_users_svm_address" on "turnkey_users" ("svm_address");
create index "idx_turnkey_users_evm_address" on "turnkey_users" ("evm_address");
create index "idx_turnkey_users_email" on "turnkey_users" ("email");
