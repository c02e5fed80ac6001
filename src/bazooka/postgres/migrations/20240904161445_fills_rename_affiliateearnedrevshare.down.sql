alter table "fills" rename "affiliateRevShare" to "affiliateEarnedRevShare";
