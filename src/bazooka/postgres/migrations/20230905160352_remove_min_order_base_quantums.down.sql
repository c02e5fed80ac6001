-- re-added as numeric at the end (originally integer)
alter table "perpetual_markets" add column "minOrderBaseQuantums" decimal not null;
