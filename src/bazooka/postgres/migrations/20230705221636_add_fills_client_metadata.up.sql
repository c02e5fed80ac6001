alter table "fills" add column "clientMetadata" bigint null;
