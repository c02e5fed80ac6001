alter table "fills" drop column "fee";
