ALTER TABLE "compliance_status" DROP CONSTRAINT IF EXISTS "compliance_status_reason_check";
ALTER TABLE "compliance_status" ADD CONSTRAINT "compliance_status_reason_check" CHECK ("reason" = ANY (ARRAY['MANUAL'::text, 'US_GEO'::text, 'CA_GEO'::text, 'GB_GEO'::text, 'SANCTIONED_GEO'::text, 'COMPLIANCE_PROVIDER'::text])) NOT VALID;
