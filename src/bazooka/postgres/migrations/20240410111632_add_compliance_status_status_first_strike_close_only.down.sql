ALTER TABLE "compliance_status" DROP CONSTRAINT IF EXISTS "compliance_status_status_check";
ALTER TABLE "compliance_status" ADD CONSTRAINT "compliance_status_status_check" CHECK ("status" = ANY (ARRAY['COMPLIANT'::text, 'FIRST_STRIKE'::text, 'CLOSE_ONLY'::text, 'BLOCKED'::text])) NOT VALID;
