drop table "leaderboard_pnl";
