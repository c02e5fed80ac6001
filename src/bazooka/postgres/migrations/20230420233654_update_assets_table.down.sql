alter table "assets" add column "denom" varchar(255) not null;
alter table "assets" drop column "symbol";
alter table "assets" add constraint "assets_denom_unique" unique ("denom");
create index "assets_denom_index" on "assets" ("denom");
