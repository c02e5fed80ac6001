-- columns come back at the end of the table, not at their original positions
alter table "perpetual_markets" add column "baseAsset" varchar(255) not null, add column "quoteAsset" varchar(255) not null, add column "basePositionSize" decimal not null, add column "incrementalPositionSize" decimal not null, add column "maxPositionSize" decimal not null;
