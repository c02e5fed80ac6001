alter table "fills" add constraint "fills_eventid_foreign" foreign key ("eventId") references "tendermint_events" ("id");
