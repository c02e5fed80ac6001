create table "subaccount_usernames" (
  "username" varchar(255) not null,
  "subaccountId" uuid not null
);
alter table "subaccount_usernames" add constraint "subaccount_usernames_pkey" primary key ("username");
alter table "subaccount_usernames" add constraint "subaccount_usernames_subaccountid_foreign" foreign key ("subaccountId") references "subaccounts" ("id");
