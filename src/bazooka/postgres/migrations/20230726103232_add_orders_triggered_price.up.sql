alter table "orders" add column "triggerPrice" decimal null;
