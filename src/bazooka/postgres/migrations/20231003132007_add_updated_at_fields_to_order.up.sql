alter table "orders" add column "updatedAt" timestamptz, add column "updatedAtHeight" bigint;
