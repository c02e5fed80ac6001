-- bazooka:no-transaction
-- unquoted: folds to fills_clobpairid_createdatheight_partial; on a forward run it and fills_type_index do not exist (no-ops)
drop index concurrently if exists fills_clobPairId_createdAtHeight_partial;
drop index concurrently if exists fills_clobpairid_createdat_index;
drop index concurrently if exists fills_orderid_index;
drop index concurrently if exists fills_subaccountid_createdat_index;
drop index concurrently if exists fills_subaccountid_index;
drop index concurrently if exists fills_type_index;
