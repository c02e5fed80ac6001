drop table if exists "liquidity_tiers";
