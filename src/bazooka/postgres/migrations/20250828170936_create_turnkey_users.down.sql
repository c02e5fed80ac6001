drop table if exists "turnkey_users";
