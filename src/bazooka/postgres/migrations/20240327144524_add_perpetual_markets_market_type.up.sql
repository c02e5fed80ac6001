alter table "perpetual_markets" add column "marketType" text check ("marketType" in ('CROSS', 'ISOLATED')) not null default 'CROSS';
