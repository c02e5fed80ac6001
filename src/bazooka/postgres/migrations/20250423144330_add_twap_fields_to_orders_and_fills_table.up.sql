alter table "orders" add column "duration" varchar(255) null, add column "interval" varchar(255) null, add column "priceTolerance" varchar(255) null;
alter table "orders" drop constraint if exists "orders_type_check";
alter table "orders" add constraint "orders_type_check" check ("type" = any (array['LIMIT'::text, 'MARKET'::text, 'STOP_LIMIT'::text, 'STOP_MARKET'::text, 'TRAILING_STOP'::text, 'TAKE_PROFIT'::text, 'TAKE_PROFIT_MARKET'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text, 'HARD_TRADE'::text, 'FAILED_HARD_TRADE'::text, 'TRANSFER_PLACEHOLDER'::text, 'TWAP'::text, 'TWAP_SUBORDER'::text])) not valid;
alter table "fills" drop constraint if exists "fills_type_check";
alter table "fills" add constraint "fills_type_check" check ("type" = any (array['LIMIT'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text, 'DELEVERAGED'::text, 'OFFSETTING'::text, 'TWAP_SUBORDER'::text])) not valid;
