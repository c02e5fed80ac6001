create table "affiliate_info" (
  "address" varchar(255) not null,
  "affiliateEarnings" decimal(8, 2) not null,
  "referredMakerTrades" integer not null,
  "referredTakerTrades" integer not null,
  "totalReferredFees" decimal(8, 2) not null,
  "totalReferredUsers" integer not null,
  "referredNetProtocolEarnings" decimal(8, 2) not null,
  "firstReferralBlockHeight" bigint not null
);
alter table "affiliate_info" add constraint "affiliate_info_pkey" primary key ("address");
