drop table if exists "fills";
