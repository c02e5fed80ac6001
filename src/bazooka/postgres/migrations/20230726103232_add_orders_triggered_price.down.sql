alter table "orders" drop column "triggerPrice";
