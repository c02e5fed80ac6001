drop table "persistent_cache";
