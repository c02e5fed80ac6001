drop table if exists "wallets";
