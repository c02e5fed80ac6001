create table "firebase_notification_tokens" (
  "id" serial primary key,
  "token" varchar(255) not null,
  "address" varchar(255) not null,
  "language" varchar(255) not null,
  "updatedAt" timestamptz not null default CURRENT_TIMESTAMP
);
alter table "firebase_notification_tokens" add constraint "firebase_notification_tokens_token_unique" unique ("token");
alter table "firebase_notification_tokens" add constraint "firebase_notification_tokens_address_foreign" foreign key ("address") references "wallets" ("address") on delete CASCADE;
