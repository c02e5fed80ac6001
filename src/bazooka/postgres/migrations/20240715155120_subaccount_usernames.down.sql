drop table "subaccount_usernames";
