-- 0020 The claims list pages through a practice's claims in (created_at, id) order, all of them
-- or one status at a time (the billing workbench's tabs). The status index ended at created_at
-- (descending), so a page had to fetch and sort every claim of the status: 130 ms for one page
-- of a practice with 11,000 submitted claims (`indra bench http`, claims by status). With id
-- in the index, a page is an ordered index scan that stops after the page (a backward scan
-- serves newest-first just as well).
drop index billing_claims_status_idx;
create index billing_claims_status_idx on billing_claims (org_id, status, created_at, id);
create index billing_claims_created_idx on billing_claims (org_id, created_at, id);
