alter table "liquidity_tiers" drop column "openInterestLowerCap";
alter table "liquidity_tiers" drop column "openInterestUpperCap";
