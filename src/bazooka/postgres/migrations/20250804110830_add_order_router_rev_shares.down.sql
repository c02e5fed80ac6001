alter table "orders" drop column "orderRouterAddress";
alter table "fills" drop column "orderRouterAddress";
alter table "fills" drop column "orderRouterFee";
