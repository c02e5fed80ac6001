drop table if exists "assets";
