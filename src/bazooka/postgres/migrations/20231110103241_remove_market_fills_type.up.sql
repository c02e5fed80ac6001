ALTER TABLE "fills" DROP CONSTRAINT IF EXISTS "fills_type_check";
ALTER TABLE "fills" ADD CONSTRAINT "fills_type_check" CHECK ("type" = ANY (ARRAY['LIMIT'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text, 'DELEVERAGED'::text, 'OFFSETTING'::text])) NOT VALID;
