drop table if exists "compliance_data";
