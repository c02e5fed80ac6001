alter table "candles" add column "orderbookMidPriceOpen" numeric null;
alter table "candles" add column "orderbookMidPriceClose" numeric null;
