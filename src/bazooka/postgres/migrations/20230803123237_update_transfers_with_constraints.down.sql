ALTER TABLE "transfers" DROP CONSTRAINT recipient_non_null;
ALTER TABLE "transfers" DROP CONSTRAINT sender_non_null;
