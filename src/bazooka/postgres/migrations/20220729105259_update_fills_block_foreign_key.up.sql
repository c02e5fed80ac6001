alter table "fills" add constraint "fills_createdatheight_foreign" foreign key ("createdAtHeight") references "blocks" ("blockHeight");
