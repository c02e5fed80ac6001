drop table if exists "compliance_status";
