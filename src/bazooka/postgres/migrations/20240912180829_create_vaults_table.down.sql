drop table "vaults";
