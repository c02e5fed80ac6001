drop table "affiliate_referred_users";
