-- formatAlterTableEnumSql: constraint re-added NOT VALID
ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_status_check";
ALTER TABLE "orders" ADD CONSTRAINT "orders_status_check" CHECK ("status" = ANY (ARRAY['OPEN'::text, 'FILLED'::text, 'CANCELED'::text, 'BEST_EFFORT_CANCELED'::text, 'UNTRIGGERED'::text])) NOT VALID;
