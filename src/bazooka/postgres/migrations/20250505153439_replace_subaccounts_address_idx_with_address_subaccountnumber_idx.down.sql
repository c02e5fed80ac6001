-- bazooka:no-transaction
drop index concurrently if exists subaccounts_address_subaccountnumber_index;
create index concurrently if not exists subaccounts_address_index on subaccounts (address);
