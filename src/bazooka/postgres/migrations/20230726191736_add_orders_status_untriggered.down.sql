-- formatAlterTableEnumSql: stays NOT VALID (not the original inline, validated check)
ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_status_check";
ALTER TABLE "orders" ADD CONSTRAINT "orders_status_check" CHECK ("status" = ANY (ARRAY['OPEN'::text, 'FILLED'::text, 'CANCELED'::text, 'BEST_EFFORT_CANCELED'::text])) NOT VALID;
