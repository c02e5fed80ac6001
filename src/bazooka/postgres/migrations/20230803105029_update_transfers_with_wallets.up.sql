alter table "transfers" add column "recipientWalletAddress" varchar(255) null, add column "senderWalletAddress" varchar(255) null;
alter table "transfers" alter column "senderSubaccountId" drop default;
alter table "transfers" alter column "senderSubaccountId" drop not null;
alter table "transfers" alter column "senderSubaccountId" type uuid using ("senderSubaccountId"::uuid);
alter table "transfers" alter column "recipientSubaccountId" drop default;
alter table "transfers" alter column "recipientSubaccountId" drop not null;
alter table "transfers" alter column "recipientSubaccountId" type uuid using ("recipientSubaccountId"::uuid);
alter table "transfers" add constraint "transfers_recipientwalletaddress_foreign" foreign key ("recipientWalletAddress") references "wallets" ("address");
alter table "transfers" add constraint "transfers_senderwalletaddress_foreign" foreign key ("senderWalletAddress") references "wallets" ("address");
