alter table "compliance_data" alter column "updatedAt" drop default;
alter table "compliance_data" alter column "updatedAt" drop not null;
alter table "compliance_data" alter column "updatedAt" type timestamptz using ("updatedAt"::timestamptz);
alter table "compliance_data" alter column "updatedAt" set not null;
