drop table "affiliate_info";
