create table "compliance_status" (
  "address" varchar(255),
  "status" text check ("status" in ('COMPLIANT', 'FIRST_STRIKE', 'CLOSE_ONLY', 'BLOCKED')) not null,
  "reason" text check ("reason" in ('MANUAL', 'US_GEO', 'CA_GEO', 'SANCTIONED_GEO', 'COMPLIANCE_PROVIDER')) null default null,
  "createdAt" timestamptz not null default CURRENT_TIMESTAMP,
  "updatedAt" timestamptz not null default CURRENT_TIMESTAMP
);
alter table "compliance_status" add constraint "compliance_status_pkey" primary key ("address");
create index "compliance_status_status_index" on "compliance_status" ("status");
create index "compliance_status_updatedat_index" on "compliance_status" ("updatedAt");
