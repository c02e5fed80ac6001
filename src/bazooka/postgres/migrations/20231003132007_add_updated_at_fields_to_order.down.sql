alter table "orders" drop column "updatedAt";
alter table "orders" drop column "updatedAtHeight";
