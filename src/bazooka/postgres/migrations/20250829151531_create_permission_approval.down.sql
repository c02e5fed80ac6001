drop table "permission_approval";
