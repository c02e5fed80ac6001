alter table "fills" add column "affiliateEarnedRevShare" varchar(255);
