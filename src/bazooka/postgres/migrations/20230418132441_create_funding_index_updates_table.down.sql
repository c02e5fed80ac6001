drop table if exists "funding_index_updates";
