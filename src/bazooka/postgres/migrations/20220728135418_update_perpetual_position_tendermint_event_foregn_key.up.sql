alter table "perpetual_positions" add constraint "perpetual_positions_openeventid_foreign" foreign key ("openEventId") references "tendermint_events" ("id");
alter table "perpetual_positions" add constraint "perpetual_positions_closeeventid_foreign" foreign key ("closeEventId") references "tendermint_events" ("id");
alter table "perpetual_positions" add constraint "perpetual_positions_lasteventid_foreign" foreign key ("lastEventId") references "tendermint_events" ("id");
