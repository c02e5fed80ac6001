drop table "firebase_notification_tokens";
