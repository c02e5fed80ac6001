alter table "orders" drop column "duration";
alter table "orders" drop column "interval";
alter table "orders" drop column "priceTolerance";
-- orders_type_check comes back NOT VALID (it was a plain inline check before up)
alter table "orders" drop constraint if exists "orders_type_check";
alter table "orders" add constraint "orders_type_check" check ("type" = any (array['LIMIT'::text, 'MARKET'::text, 'STOP_LIMIT'::text, 'STOP_MARKET'::text, 'TRAILING_STOP'::text, 'TAKE_PROFIT'::text, 'TAKE_PROFIT_MARKET'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text, 'HARD_TRADE'::text, 'FAILED_HARD_TRADE'::text, 'TRANSFER_PLACEHOLDER'::text])) not valid;
alter table "fills" drop constraint if exists "fills_type_check";
alter table "fills" add constraint "fills_type_check" check ("type" = any (array['LIMIT'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text, 'DELEVERAGED'::text, 'OFFSETTING'::text])) not valid;
