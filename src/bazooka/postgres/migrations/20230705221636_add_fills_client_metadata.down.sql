alter table "fills" drop column "clientMetadata";
