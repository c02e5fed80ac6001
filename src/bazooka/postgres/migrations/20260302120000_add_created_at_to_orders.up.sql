alter table "orders" add column "createdAt" timestamptz null;
