alter table "affiliate_info" add column "totalReferredTakerFees" decimal not null default '0', add column "totalReferredMakerFees" decimal not null default '0', add column "totalReferredMakerRebates" decimal not null default '0';
alter table "affiliate_info" drop column "totalReferredFees";
alter table "affiliate_info" drop column "referredNetProtocolEarnings";
