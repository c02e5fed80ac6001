drop materialized view if exists vaults_daily_pnl;
