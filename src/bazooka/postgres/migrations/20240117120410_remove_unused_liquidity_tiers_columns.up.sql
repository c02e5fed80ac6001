alter table "liquidity_tiers" drop column "basePositionNotional";
