-- formatAlterTableEnumSql: stays NOT VALID (not the original inline, validated check)
ALTER TABLE "fills" DROP CONSTRAINT IF EXISTS "fills_type_check";
ALTER TABLE "fills" ADD CONSTRAINT "fills_type_check" CHECK ("type" = ANY (ARRAY['MARKET'::text, 'LIMIT'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text])) NOT VALID;
