-- not an exact inverse: column comes back as varchar(255) not null default '0' (original was nullable, no default)
alter table "fills" drop column "affiliateRevShare";
alter table "fills" add column "affiliateRevShare" varchar(255) not null default '0';
