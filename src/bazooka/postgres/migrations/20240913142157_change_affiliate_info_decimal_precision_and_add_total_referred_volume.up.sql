-- knex .alter() drops NOT NULL (not re-added)
alter table "affiliate_info" alter column "affiliateEarnings" drop default;
alter table "affiliate_info" alter column "affiliateEarnings" drop not null;
alter table "affiliate_info" alter column "affiliateEarnings" type numeric using ("affiliateEarnings"::numeric);
alter table "affiliate_info" alter column "totalReferredFees" drop default;
alter table "affiliate_info" alter column "totalReferredFees" drop not null;
alter table "affiliate_info" alter column "totalReferredFees" type numeric using ("totalReferredFees"::numeric);
alter table "affiliate_info" alter column "referredNetProtocolEarnings" drop default;
alter table "affiliate_info" alter column "referredNetProtocolEarnings" drop not null;
alter table "affiliate_info" alter column "referredNetProtocolEarnings" type numeric using ("referredNetProtocolEarnings"::numeric);
alter table "affiliate_info" add column "referredTotalVolume" numeric not null;
