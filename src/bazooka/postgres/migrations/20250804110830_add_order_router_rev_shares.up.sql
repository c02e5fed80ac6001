alter table "orders" add column "orderRouterAddress" varchar(255) null;
alter table "fills" add column "orderRouterAddress" varchar(255) null, add column "orderRouterFee" varchar(255) null;
