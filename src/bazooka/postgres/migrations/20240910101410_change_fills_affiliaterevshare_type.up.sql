alter table "fills" drop column "affiliateRevShare";
alter table "fills" add column "affiliateRevShare" numeric not null default '0';
