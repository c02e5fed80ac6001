alter table "tendermint_events" add constraint "tendermint_events_blockheight_foreign" foreign key ("blockHeight") references "blocks" ("blockHeight");
