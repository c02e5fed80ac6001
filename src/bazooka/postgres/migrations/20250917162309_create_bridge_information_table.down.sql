drop table if exists "bridge_information";
