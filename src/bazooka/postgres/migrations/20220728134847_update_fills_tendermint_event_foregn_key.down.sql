alter table "fills" drop constraint "fills_eventid_foreign";
