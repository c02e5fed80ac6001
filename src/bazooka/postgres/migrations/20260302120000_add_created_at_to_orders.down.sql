alter table "orders" drop column "createdAt";
