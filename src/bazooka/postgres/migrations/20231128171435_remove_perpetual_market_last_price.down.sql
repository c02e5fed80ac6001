-- re-added at the end of the table, now with default '0'
alter table "perpetual_markets" add column "lastPrice" decimal not null default '0';
