drop table if exists "blocks";
