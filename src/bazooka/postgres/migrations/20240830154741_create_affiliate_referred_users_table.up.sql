create table "affiliate_referred_users" (
  "refereeAddress" varchar(255) not null,
  "affiliateAddress" varchar(255) not null,
  "referredAtBlock" bigint not null
);
alter table "affiliate_referred_users" add constraint "affiliate_referred_users_pkey" primary key ("refereeAddress");
create index "affiliate_referred_users_affiliateaddress_index" on "affiliate_referred_users" ("affiliateAddress");
