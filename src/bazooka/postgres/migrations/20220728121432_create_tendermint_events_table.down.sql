drop table if exists "tendermint_events";
