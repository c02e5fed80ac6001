ALTER TABLE "orders" ADD CONSTRAINT good_til_block_or_good_til_block_time_non_null CHECK (num_nonnulls("goodTilBlock", "goodTilBlockTime") = 1);
