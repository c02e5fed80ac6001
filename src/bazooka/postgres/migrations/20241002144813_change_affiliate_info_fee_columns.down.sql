alter table "affiliate_info" add column "totalReferredFees" decimal not null default '0', add column "referredNetProtocolEarnings" decimal not null default '0';
alter table "affiliate_info" drop column "totalReferredTakerFees";
alter table "affiliate_info" drop column "totalReferredMakerFees";
alter table "affiliate_info" drop column "totalReferredMakerRebates";
