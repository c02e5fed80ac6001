create materialized view if not exists vaults_hourly_pnl as with vault_subaccounts as (
  select subaccounts.id from vaults, subaccounts
  where vaults.address = subaccounts.address and subaccounts."subaccountNumber" = 0
), pnl_subaccounts as (
  select * from vault_subaccounts
  union
  select id from subaccounts
  where address = 'dydx18tkxrnrkqc2t0lr3zxr5g6a4hdvqksylxqje4r' and "subaccountNumber" = 0
)
select "id", "subaccountId", "equity", "totalPnl", "netTransfers", "createdAt", "blockHeight", "blockTime"
from (
  select pnl_ticks.*,
    row_number() over (partition by "subaccountId", date_trunc('hour', "blockTime") order by "blockTime") as r
  from pnl_ticks
  where "subaccountId" in (select * from pnl_subaccounts)
    and "blockTime" >= now() - interval '604800 second'
) as pnl_intervals
where r = 1
order by "subaccountId";
-- auto-named vaults_hourly_pnl_id_idx
create unique index on vaults_hourly_pnl (id);
