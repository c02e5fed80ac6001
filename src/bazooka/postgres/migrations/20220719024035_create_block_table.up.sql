create table "blocks" (
  "blockHeight" bigint,
  "time" timestamptz not null
);
alter table "blocks" add constraint "blocks_pkey" primary key ("blockHeight");
