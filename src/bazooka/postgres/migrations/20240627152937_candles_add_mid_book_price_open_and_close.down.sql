alter table "candles" drop column "orderbookMidPriceOpen";
alter table "candles" drop column "orderbookMidPriceClose";
