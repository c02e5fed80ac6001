drop materialized view if exists vaults_hourly_pnl;
