alter table "tendermint_events" drop constraint "tendermint_events_blockheight_foreign";
