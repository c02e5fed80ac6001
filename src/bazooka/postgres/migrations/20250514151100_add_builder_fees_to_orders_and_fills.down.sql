alter table "orders" drop column "builderAddress";
alter table "orders" drop column "feePpm";
alter table "fills" drop column "builderAddress";
alter table "fills" drop column "builderFee";
