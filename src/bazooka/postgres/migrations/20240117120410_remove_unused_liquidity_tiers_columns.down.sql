alter table "liquidity_tiers" add column "basePositionNotional" decimal not null default '0';
