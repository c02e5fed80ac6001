-- knex .alter() drops NOT NULL (not restored)
alter table "affiliate_info" alter column "affiliateEarnings" drop default;
alter table "affiliate_info" alter column "affiliateEarnings" drop not null;
alter table "affiliate_info" alter column "affiliateEarnings" type decimal(8, 2) using ("affiliateEarnings"::decimal(8, 2));
alter table "affiliate_info" alter column "totalReferredFees" drop default;
alter table "affiliate_info" alter column "totalReferredFees" drop not null;
alter table "affiliate_info" alter column "totalReferredFees" type decimal(8, 2) using ("totalReferredFees"::decimal(8, 2));
alter table "affiliate_info" alter column "referredNetProtocolEarnings" drop default;
alter table "affiliate_info" alter column "referredNetProtocolEarnings" drop not null;
alter table "affiliate_info" alter column "referredNetProtocolEarnings" type decimal(8, 2) using ("referredNetProtocolEarnings"::decimal(8, 2));
alter table "affiliate_info" drop column "referredTotalVolume";
