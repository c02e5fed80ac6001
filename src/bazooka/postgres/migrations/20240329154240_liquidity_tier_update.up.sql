alter table "liquidity_tiers" add column "openInterestLowerCap" varchar(255) null default null;
alter table "liquidity_tiers" add column "openInterestUpperCap" varchar(255) null default null;
