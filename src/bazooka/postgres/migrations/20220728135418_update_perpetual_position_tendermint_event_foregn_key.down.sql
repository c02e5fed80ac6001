alter table "perpetual_positions" drop constraint "perpetual_positions_openeventid_foreign";
alter table "perpetual_positions" drop constraint "perpetual_positions_closeeventid_foreign";
alter table "perpetual_positions" drop constraint "perpetual_positions_lasteventid_foreign";
