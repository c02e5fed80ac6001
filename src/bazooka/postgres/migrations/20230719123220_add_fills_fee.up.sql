alter table "fills" add column "fee" varchar(255) not null default '0';
