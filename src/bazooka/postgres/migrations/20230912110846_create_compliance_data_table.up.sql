create table "compliance_data" (
  "address" varchar(255) not null,
  "provider" text check ("provider" in ('ELLIPTIC')) not null,
  "chain" varchar(255) null,
  "blocked" boolean not null,
  "riskScore" decimal(8, 2) null,
  "updatedAt" timestamptz not null
);
alter table "compliance_data" add constraint "compliance_data_pkey" primary key ("address", "provider");
create index "compliance_data_updatedat_index" on "compliance_data" ("updatedAt");
create index "compliance_data_blocked_index" on "compliance_data" ("blocked");
