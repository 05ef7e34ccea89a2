-- 0009 Who may do what: grants and row-level security policies.
--
-- Two walls, both in the database:
--   1. The organization. Every policy requires org_id = the caller's org (from the JWT claims);
--      composite foreign keys keep every reference inside one organization.
--   2. The role inside the organization (least privilege, docs/security-model.md):
--        provider  writes and signs clinical notes and treatment plans, diagnoses, medications;
--        billing   sees what a claim needs (diagnoses, encounters, note status, signatures,
--                  insurance, claims) but never the text of a note or a note draft;
--        staff     handles scheduling, demographics and insurance, no clinical content;
--        admin     manages users and providers, reads the audit log and clinical content.
--
-- anon is granted nothing. service_role bypasses RLS (BYPASSRLS) for the few named server-side
-- doors; it is still bound by every trigger (signed notes, the audit log).
-- Each policy names one command; a command without a policy is refused.

-- Shorthands for the policies below. `(select ...)` makes PostgreSQL evaluate them once per statement.
create function app.caller_is(variadic roles text[]) returns boolean
language sql stable
as $$ select app.user_role() = any (roles) $$;
grant execute on function app.caller_is(text[]) to authenticated, service_role;

------------------------------------------------------------------------------------------------
-- Every table: RLS on. The service role may read and write everything (policies do not apply
-- to it); the audit log is readable only, and nobody may truncate anything.
do $$
declare
    t record;
begin
    for t in select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname = 'public' and c.relkind = 'r'
    loop
        execute format('alter table public.%I enable row level security', t.relname);
        execute format('revoke all on public.%I from public, anon, authenticated, service_role', t.relname);
        if t.relname in ('audit_log', 'audit_chain_heads') then
            execute format('grant select on public.%I to service_role', t.relname);
        else
            execute format('grant select, insert, update, delete on public.%I to service_role', t.relname);
        end if;
    end loop;
end
$$;

------------------------------------------------------------------------------------------------
-- Reference code sets: read by any signed-in user, written by the service role only.

grant select on cpt_codes, icd10_codes to authenticated;
create policy cpt_codes_select on cpt_codes for select to authenticated using (true);
create policy icd10_codes_select on icd10_codes for select to authenticated using (true);
comment on policy cpt_codes_select on cpt_codes is 'Reference data: every signed-in user reads it.';
comment on policy icd10_codes_select on icd10_codes is 'Reference data: every signed-in user reads it.';

------------------------------------------------------------------------------------------------
-- Platform

grant select, update on organizations to authenticated;
create policy organizations_select on organizations for select to authenticated
    using (id = (select app.org_id()));
create policy organizations_update on organizations for update to authenticated
    using (id = (select app.org_id()) and (select app.caller_is('admin')))
    with check (id = (select app.org_id()));
comment on policy organizations_update on organizations is 'Admins edit their practice''s settings.';

grant select, insert, update on users to authenticated;
create policy users_select on users for select to authenticated
    using (org_id = (select app.org_id()));
create policy users_insert on users for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin')));
create policy users_update on users for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin')))
    with check (org_id = (select app.org_id()));
comment on policy users_update on users is 'Admins change roles and deactivate users; users are never deleted.';

grant select, insert, update on providers to authenticated;
create policy providers_select on providers for select to authenticated
    using (org_id = (select app.org_id()));
create policy providers_insert on providers for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin')));
create policy providers_update on providers for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin')))
    with check (org_id = (select app.org_id()));

------------------------------------------------------------------------------------------------
-- Demographics and scheduling: everyone reads; front desk, clinicians and admins write.

grant select, insert, update on patients, appointments to authenticated;
create policy patients_select on patients for select to authenticated
    using (org_id = (select app.org_id()));
create policy patients_insert on patients for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'staff')));
create policy patients_update on patients for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'staff')))
    with check (org_id = (select app.org_id()));
comment on policy patients_update on patients is 'Demographics: front desk, clinicians, admins. Patients are discharged, never deleted.';

create policy appointments_select on appointments for select to authenticated
    using (org_id = (select app.org_id()));
create policy appointments_insert on appointments for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'staff')));
create policy appointments_update on appointments for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'staff')))
    with check (org_id = (select app.org_id()));

-- Encounters carry no clinical text: billing reads them for claims, the front desk checks
-- patients in; clinicians and the front desk create and move them.
grant select, insert, update on encounters to authenticated;
create policy encounters_select on encounters for select to authenticated
    using (org_id = (select app.org_id()));
create policy encounters_insert on encounters for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'staff')));
create policy encounters_update on encounters for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'staff')))
    with check (org_id = (select app.org_id()));

------------------------------------------------------------------------------------------------
-- Clinical content: clinicians write, admins read, billing reads only what a claim needs.

grant select, insert, update on patient_diagnoses to authenticated;
create policy patient_diagnoses_select on patient_diagnoses for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'billing')));
create policy patient_diagnoses_insert on patient_diagnoses for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('provider')));
create policy patient_diagnoses_update on patient_diagnoses for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider')))
    with check (org_id = (select app.org_id()));
comment on policy patient_diagnoses_select on patient_diagnoses is 'Billing needs diagnoses for claims; the front desk does not.';

grant select, insert, update, delete on clinical_notes to authenticated;
create policy clinical_notes_select on clinical_notes for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider')));
create policy clinical_notes_insert on clinical_notes for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('provider'))
                and author_provider_id = (select app.provider_id()));
create policy clinical_notes_update on clinical_notes for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider'))
           and author_provider_id = (select app.provider_id()) and status = 'draft')
    with check (org_id = (select app.org_id()) and author_provider_id = (select app.provider_id())
                and status in ('draft', 'signed'));
create policy clinical_notes_delete on clinical_notes for delete to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider'))
           and author_provider_id = (select app.provider_id()) and status = 'draft');
comment on policy clinical_notes_update on clinical_notes is
    'Only the author edits a draft, and signs it. A signed note is never updated: it is amended by a new version.';

-- What billing may know of a note: that it exists, for which encounter, and whether it is
-- signed; never its text. The view reads past RLS as its owner, so it filters by the caller's
-- organization itself.
create view clinical_note_statuses with (security_barrier) as
    select n.org_id, n.id, n.lineage_id, n.version, n.encounter_id, n.patient_id, n.author_provider_id,
           n.status, n.is_current, n.signed_at
      from clinical_notes n
     where n.org_id = (select app.org_id());
comment on view clinical_note_statuses is 'Note status without content, for billing and scheduling (own organization only).';
grant select on clinical_note_statuses to authenticated, service_role;

grant select, insert on note_signatures to authenticated;
create policy note_signatures_select on note_signatures for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider', 'billing')));
create policy note_signatures_insert on note_signatures for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('provider'))
                and signer_provider_id = (select app.provider_id()));
comment on policy note_signatures_insert on note_signatures is 'A provider signs only as themself. Signatures are never changed or removed.';

grant select, insert, update, delete on treatment_plans to authenticated;
create policy treatment_plans_select on treatment_plans for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider')));
create policy treatment_plans_insert on treatment_plans for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('provider'))
                and provider_id = (select app.provider_id()));
create policy treatment_plans_update on treatment_plans for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider'))
           and provider_id = (select app.provider_id()) and status = 'draft')
    with check (org_id = (select app.org_id()) and provider_id = (select app.provider_id())
                and status in ('draft', 'signed'));
create policy treatment_plans_delete on treatment_plans for delete to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider'))
           and provider_id = (select app.provider_id()) and status = 'draft');

grant select, insert, update on medications to authenticated;
create policy medications_select on medications for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'provider')));
create policy medications_insert on medications for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('provider')));
create policy medications_update on medications for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider')))
    with check (org_id = (select app.org_id()));

------------------------------------------------------------------------------------------------
-- Insurance and claims

grant select, insert, update on insurance_payers to authenticated;
create policy insurance_payers_select on insurance_payers for select to authenticated
    using (org_id = (select app.org_id()));
create policy insurance_payers_insert on insurance_payers for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')));
create policy insurance_payers_update on insurance_payers for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')))
    with check (org_id = (select app.org_id()));

grant select, insert, update on patient_insurance to authenticated;
create policy patient_insurance_select on patient_insurance for select to authenticated
    using (org_id = (select app.org_id()));
create policy patient_insurance_insert on patient_insurance for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing', 'staff')));
create policy patient_insurance_update on patient_insurance for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing', 'staff')))
    with check (org_id = (select app.org_id()));

-- Billers and admins work claims; a provider may only start a draft (the assistant's
-- suggest_billing commits as the reviewing provider) and edit it while it is a draft.
grant select, insert, update, delete on billing_claims, claim_diagnoses, claim_line_items to authenticated;
create policy billing_claims_select on billing_claims for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing', 'provider')));
create policy billing_claims_insert on billing_claims for insert to authenticated
    with check (org_id = (select app.org_id())
                and ((select app.caller_is('admin', 'billing')) or ((select app.caller_is('provider')) and status = 'draft')));
create policy billing_claims_update on billing_claims for update to authenticated
    using (org_id = (select app.org_id())
           and ((select app.caller_is('admin', 'billing')) or ((select app.caller_is('provider')) and status = 'draft')))
    with check (org_id = (select app.org_id())
                and ((select app.caller_is('admin', 'billing')) or status = 'draft'));
create policy billing_claims_delete on billing_claims for delete to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')) and status = 'draft');

-- A claim's lines and diagnoses follow the claim: readable where the claim is, writable by
-- billing and admins, and by a provider while the claim is a draft.
create function app.claim_is_editable(p_org_id uuid, p_claim_id uuid) returns boolean
language sql stable
as $$
    select app.caller_is('admin', 'billing')
        or (app.caller_is('provider') and exists (
                select 1 from public.billing_claims c
                 where c.org_id = p_org_id and c.id = p_claim_id and c.status = 'draft'))
$$;
grant execute on function app.claim_is_editable(uuid, uuid) to authenticated, service_role;

create policy claim_diagnoses_select on claim_diagnoses for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing', 'provider')));
create policy claim_diagnoses_insert on claim_diagnoses for insert to authenticated
    with check (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id));
create policy claim_diagnoses_update on claim_diagnoses for update to authenticated
    using (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id))
    with check (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id));
create policy claim_diagnoses_delete on claim_diagnoses for delete to authenticated
    using (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id));

create policy claim_line_items_select on claim_line_items for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing', 'provider')));
create policy claim_line_items_insert on claim_line_items for insert to authenticated
    with check (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id));
create policy claim_line_items_update on claim_line_items for update to authenticated
    using (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id))
    with check (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id));
create policy claim_line_items_delete on claim_line_items for delete to authenticated
    using (org_id = (select app.org_id()) and app.claim_is_editable(org_id, claim_id));

------------------------------------------------------------------------------------------------
-- The assistant: a provider's runs, drafts and questions are theirs alone (the dictation is
-- clinical text). Background workers use the service role.

grant select, insert, update on ai_runs, ai_steps, ai_proposed_actions, ai_clarifications, note_drafts
    to authenticated;

create policy ai_runs_select on ai_runs for select to authenticated
    using (org_id = (select app.org_id()) and requested_by_user_id = (select app.user_id()));
create policy ai_runs_insert on ai_runs for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('provider'))
                and requested_by_user_id = (select app.user_id()) and provider_id = (select app.provider_id()));
create policy ai_runs_update on ai_runs for update to authenticated
    using (org_id = (select app.org_id()) and requested_by_user_id = (select app.user_id()))
    with check (org_id = (select app.org_id()) and requested_by_user_id = (select app.user_id()));

-- Steps, actions and clarifications belong to a run the caller may see (ai_runs' own policy
-- applies inside the subquery).
create function app.is_own_ai_run(p_org_id uuid, p_run_id uuid) returns boolean
language sql stable
as $$
    select exists (select 1 from public.ai_runs r
                    where r.org_id = p_org_id and r.id = p_run_id
                      and r.requested_by_user_id = app.user_id())
$$;
grant execute on function app.is_own_ai_run(uuid, uuid) to authenticated, service_role;

create policy ai_steps_select on ai_steps for select to authenticated
    using (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));
create policy ai_steps_insert on ai_steps for insert to authenticated
    with check (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));
create policy ai_steps_update on ai_steps for update to authenticated
    using (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id))
    with check (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));

create policy ai_proposed_actions_select on ai_proposed_actions for select to authenticated
    using (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));
create policy ai_proposed_actions_insert on ai_proposed_actions for insert to authenticated
    with check (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));
create policy ai_proposed_actions_update on ai_proposed_actions for update to authenticated
    using (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id))
    with check (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));

create policy ai_clarifications_select on ai_clarifications for select to authenticated
    using (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));
create policy ai_clarifications_insert on ai_clarifications for insert to authenticated
    with check (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));
create policy ai_clarifications_update on ai_clarifications for update to authenticated
    using (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id))
    with check (org_id = (select app.org_id()) and app.is_own_ai_run(org_id, run_id));

create policy note_drafts_select on note_drafts for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider'))
           and provider_id = (select app.provider_id()));
create policy note_drafts_insert on note_drafts for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('provider'))
                and provider_id = (select app.provider_id()));
create policy note_drafts_update on note_drafts for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('provider'))
           and provider_id = (select app.provider_id()))
    with check (org_id = (select app.org_id()) and provider_id = (select app.provider_id()));
comment on policy note_drafts_select on note_drafts is 'AI drafts are seen only by the provider they were written for.';

------------------------------------------------------------------------------------------------
-- The audit log: admins read their organization's; nobody writes it but app.audit_row.

grant select on audit_log to authenticated;
create policy audit_log_select on audit_log for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin')));
comment on policy audit_log_select on audit_log is 'Admins read their organization''s audit trail. No role may insert, update or delete.';
-- audit_chain_heads: RLS on, no policy, no grant to authenticated: only the owner and the
-- service role (read-only) see it.
