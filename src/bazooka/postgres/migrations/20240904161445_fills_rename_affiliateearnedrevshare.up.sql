alter table "fills" rename "affiliateEarnedRevShare" to "affiliateRevShare";
