alter table "orders" add column "builderAddress" varchar(255) null, add column "feePpm" varchar(255) null;
alter table "fills" add column "builderAddress" varchar(255) null, add column "builderFee" varchar(255) null;
