alter table "fills" drop constraint "fills_createdatheight_foreign";
