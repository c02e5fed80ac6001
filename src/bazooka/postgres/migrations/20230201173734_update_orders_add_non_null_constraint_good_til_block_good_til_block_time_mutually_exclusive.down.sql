ALTER TABLE "orders" DROP CONSTRAINT good_til_block_or_good_til_block_time_non_null;
