drop table if exists "funding_payments";
