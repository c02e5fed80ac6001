create table "permission_approval" (
  "suborg_id" text not null,
  "chain_id" text not null,
  "approval" text not null
);
alter table "permission_approval" add constraint "permission_approval_pkey" primary key ("suborg_id", "chain_id");
