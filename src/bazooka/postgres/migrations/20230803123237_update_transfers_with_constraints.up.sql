ALTER TABLE "transfers" ADD CONSTRAINT recipient_non_null CHECK (num_nonnulls("recipientWalletAddress", "recipientSubaccountId") = 1);
ALTER TABLE "transfers" ADD CONSTRAINT sender_non_null CHECK (num_nonnulls("senderWalletAddress", "senderSubaccountId") = 1);
