create table "persistent_cache" (
  "key" varchar(255) not null,
  "value" varchar(255) not null
);
alter table "persistent_cache" add constraint "persistent_cache_pkey" primary key ("key");
