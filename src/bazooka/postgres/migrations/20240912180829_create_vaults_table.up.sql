create table "vaults" (
  "address" varchar(255) not null,
  "clobPairId" bigint not null,
  "status" text check ("status" in ('DEACTIVATED', 'STAND_BY', 'QUOTING', 'CLOSE_ONLY')) not null,
  "createdAt" timestamptz not null,
  "updatedAt" timestamptz not null
);
alter table "vaults" add constraint "vaults_pkey" primary key ("address");
