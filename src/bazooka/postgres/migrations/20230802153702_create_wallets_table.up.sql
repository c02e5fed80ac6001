create table "wallets" (
  "address" varchar(255)
);
alter table "wallets" add constraint "wallets_pkey" primary key ("address");
