alter table "assets" add column "symbol" varchar(255) not null;
alter table "assets" drop column "denom";
alter table "assets" add constraint "assets_symbol_unique" unique ("symbol");
create index "assets_symbol_index" on "assets" ("symbol");
