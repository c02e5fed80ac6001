alter table "fills" drop column "affiliateEarnedRevShare";
