-- 0018 The billing workflow, enforced where every door meets: the database.
--
--   * A claim is created as a draft; its lines and diagnoses change only while it is one, and its
--     total charge is always the sum of its lines.
--   * draft -> ready only for a claim whose every session is completed and documented (a signed
--     current note, cosigned by the supervisor when the rendering provider practises under
--     supervision) and whose every diagnosis is on the patient's record.
--   * ready -> submitted counts the claim's sessions against the payer's authorization, under a
--     lock on the coverage row, so two billers submitting at once never count past the limit;
--     -> voided gives back exactly what was counted. Only an admin may bill past the limit, with
--     a reason.
--   * The fee schedule, the 837P files sent (with their control numbers, unique and persisted)
--     and the 835 remittances received, with what each posted.
--
-- Errors name a constraint (billing_claims_ready_*, billing_claims_authorization_exhausted, ...)
-- that the server maps to the biller's message.

------------------------------------------------------------------------------------------------
-- Claims: voiding and the authorization bookkeeping

alter table patient_insurance
    add column sessions_over_authorization integer not null default 0
        constraint patient_insurance_sessions_over_authorization_check check (sessions_over_authorization >= 0);
comment on column patient_insurance.sessions_over_authorization is
    'Sessions submitted past authorized_sessions with an admin''s override; sessions_used stops at the limit.';

alter table billing_claims
    add column voided_at timestamptz,
    add column void_reason text,
    -- What ready -> submitted counted against the coverage's authorization, given back on void:
    -- sessions_counted in all, of which sessions_over_authorization past the limit.
    add column sessions_counted integer not null default 0
        constraint billing_claims_sessions_counted_check check (sessions_counted >= 0),
    add column sessions_over_authorization integer not null default 0,
    add column authorization_overridden_by uuid,
    add column authorization_overridden_at timestamptz,
    add constraint billing_claims_sessions_over_authorization_check
        check (sessions_over_authorization between 0 and sessions_counted),
    add constraint billing_claims_authorization_overridden_by_fkey
        foreign key (org_id, authorization_overridden_by) references users (org_id, id),
    add constraint billing_claims_void_check check (
        (status = 'voided') = (voided_at is not null)
        and (status <> 'voided' or length(btrim(void_reason)) > 0)),
    add constraint billing_claims_override_reason_check check (
        authorization_override_reason is null or length(btrim(authorization_override_reason)) > 0),
    drop constraint billing_claims_submitted_check,
    add constraint billing_claims_submitted_check check (
        status in ('draft', 'ready', 'voided') or submitted_at is not null);
comment on column billing_claims.void_reason is 'Why the claim was withdrawn; required when voided.';
comment on column billing_claims.sessions_counted is
    'Sessions this claim counted against its coverage''s authorization when submitted (given back when voided).';

drop trigger billing_claims_status_transition on billing_claims;
create trigger billing_claims_status_transition before update of status on billing_claims
    for each row execute function app.enforce_status_transition(
        'draft>ready', 'ready>submitted',
        'submitted>accepted', 'submitted>rejected', 'submitted>denied',
        'accepted>paid', 'accepted>appealed', 'rejected>paid', 'rejected>appealed',
        'denied>paid', 'denied>appealed',
        -- An appeal ends in payment or in a (final, or again appealed) denial.
        'appealed>paid', 'appealed>denied',
        'ready>voided', 'submitted>voided', 'accepted>voided', 'rejected>voided', 'denied>voided');

-- A caller of another organization is left to row-level security, which refuses the row as
-- what it is; the triggers below say nothing about a row the caller may not see.
create function app.is_other_organization(p_org_id uuid) returns boolean
language sql stable
as $$ select current_setting('role') = 'authenticated' and p_org_id is distinct from app.org_id() $$;
grant execute on function app.is_other_organization(uuid) to authenticated, service_role;

-- A claim starts as an empty draft: every later state is reached along the arrows, through the
-- checks below.
create function app.billing_claim_created_as_draft() returns trigger
language plpgsql
as $$
begin
    if app.is_other_organization(new.org_id) then
        return new;
    end if;
    if new.status <> 'draft' then
        raise exception 'a claim is created as a draft (not %): it becomes ready, and is submitted, along its arrows', new.status
            using errcode = 'check_violation', constraint = 'billing_claims_created_as_draft',
                  table = 'billing_claims', column = 'status';
    end if;
    -- The lines' trigger keeps the total; the count is the submission's.
    new.total_charge := 0;
    new.sessions_counted := 0;
    new.sessions_over_authorization := 0;
    return new;
end
$$;
create trigger billing_claims_created_as_draft before insert on billing_claims
    for each row execute function app.billing_claim_created_as_draft();

-- Only an admin bills past the authorization, and the database records who did.
create function app.guard_authorization_override() returns trigger
language plpgsql
as $$
begin
    if app.is_other_organization(new.org_id) then
        return new;
    end if;
    if (tg_op = 'INSERT' and new.authorization_override_reason is null)
       or (tg_op = 'UPDATE' and new.authorization_override_reason is not distinct from old.authorization_override_reason) then
        -- Who overrode moves only with the reason.
        if tg_op = 'INSERT' then
            new.authorization_overridden_by := null;
            new.authorization_overridden_at := null;
        else
            new.authorization_overridden_by := old.authorization_overridden_by;
            new.authorization_overridden_at := old.authorization_overridden_at;
        end if;
        return new;
    end if;
    if app.user_role() is distinct from 'admin' then
        raise exception 'only an admin may override the authorization limit of a claim'
            using errcode = 'insufficient_privilege',
                  constraint = 'billing_claims_authorization_override_admin_only',
                  table = 'billing_claims', column = 'authorization_override_reason';
    end if;
    if new.authorization_override_reason is null then
        new.authorization_overridden_by := null;
        new.authorization_overridden_at := null;
    else
        new.authorization_overridden_by := app.user_id();
        new.authorization_overridden_at := now();
    end if;
    return new;
end
$$;
create trigger billing_claims_authorization_override before insert or update on billing_claims
    for each row execute function app.guard_authorization_override();

-- What a claim bills is fixed once it leaves draft (a correction is a void and a new claim), and
-- a claim past draft is part of the record: voided, never deleted.
create function app.guard_billing_claim() returns trigger
language plpgsql
as $$
begin
    if tg_op = 'DELETE' then
        if old.status = 'draft' then
            return old;
        end if;
        raise exception 'claim % is %: a claim past draft is part of the record; void it instead', old.claim_number, old.status
            using errcode = 'check_violation', constraint = 'billing_claims_record_immutable',
                  table = 'billing_claims';
    end if;
    if app.is_other_organization(new.org_id) then
        return new;
    end if;
    if (new.id, new.org_id, new.created_at, new.sessions_counted, new.sessions_over_authorization)
       is distinct from (old.id, old.org_id, old.created_at, old.sessions_counted, old.sessions_over_authorization) then
        raise exception 'a claim''s identity and its authorization count are kept by the database'
            using errcode = 'check_violation', constraint = 'billing_claims_identity_immutable',
                  table = 'billing_claims';
    end if;
    if old.status <> 'draft'
       and (new.patient_id, new.patient_insurance_id, new.rendering_provider_id, new.claim_number,
            new.place_of_service, new.prior_authorization_number, new.total_charge)
           is distinct from
           (old.patient_id, old.patient_insurance_id, old.rendering_provider_id, old.claim_number,
            old.place_of_service, old.prior_authorization_number, old.total_charge) then
        raise exception 'claim % is %: what it bills changes only while it is a draft; void it and create a new claim',
                old.claim_number, old.status
            using errcode = 'check_violation', constraint = 'billing_claims_billed_content_immutable',
                  table = 'billing_claims';
    end if;
    return new;
end
$$;
create trigger billing_claims_guard before update or delete on billing_claims
    for each row execute function app.guard_billing_claim();

-- What the record says about the session each line of the given claims bills. SECURITY
-- DEFINER because billing may know whether a note is signed but not read it; it returns only
-- booleans, and only of the caller's own organization.
create function app.claim_line_documentation(p_org_id uuid, p_claim_ids uuid[])
returns table (claim_id uuid, line_id uuid, line_number smallint, service_date date,
               completed boolean, same_patient boolean, note_signed boolean,
               needs_cosignature boolean, cosigned boolean)
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select l.claim_id, l.id, l.line_number, l.service_date,
           e.status = 'completed',
           e.patient_id = c.patient_id,
           n.id is not null,
           coalesce(rp.requires_supervision, false),
           n.id is not null and exists (
               select 1 from public.note_signatures s
                where s.org_id = n.org_id and s.note_id = n.id and s.signature_type = 'supervisor')
      from public.claim_line_items l
      join public.billing_claims c on c.org_id = l.org_id and c.id = l.claim_id
      join public.encounters e on e.org_id = l.org_id and e.id = l.encounter_id
      left join public.providers rp on rp.org_id = c.org_id and rp.id = c.rendering_provider_id
      left join lateral (
          select cn.id, cn.org_id from public.clinical_notes cn
           where cn.org_id = e.org_id and cn.encounter_id = e.id and cn.is_current and cn.status = 'signed'
           order by cn.signed_at desc limit 1) n on true
     where l.org_id = p_org_id and l.claim_id = any (p_claim_ids)
       and not app.is_other_organization(p_org_id)
$$;
revoke execute on function app.claim_line_documentation(uuid, uuid[]) from public;
grant execute on function app.claim_line_documentation(uuid, uuid[]) to authenticated, service_role;

-- Whether a code is on the patient's record (active or resolved; a ruled-out diagnosis is not one).
create function app.is_patient_diagnosis(p_org_id uuid, p_patient_id uuid, p_icd10_code text) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select not app.is_other_organization(p_org_id) and exists (
        select 1 from public.patient_diagnoses d
         where d.org_id = p_org_id and d.patient_id = p_patient_id and d.icd10_code = p_icd10_code
           and d.status in ('active', 'resolved'))
$$;
revoke execute on function app.is_patient_diagnosis(uuid, uuid, text) from public;
grant execute on function app.is_patient_diagnosis(uuid, uuid, text) to authenticated, service_role;

-- The status moves' rules. SECURITY DEFINER: it reads note status (not text) for billing and
-- keeps the coverage's counts, which no caller sets by hand in this flow; every statement is
-- bounded to the claim's own organization, and a caller of another one is left to RLS.
create function app.billing_claim_workflow() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
    problem   record;
    coverage  public.patient_insurance;
    counted   integer := 0;
    over      integer := 0;
begin
    if new.status = old.status or app.is_other_organization(new.org_id) then
        return new;
    end if;

    if old.status = 'draft' and new.status = 'ready' then
        if not exists (select 1 from public.claim_line_items l where l.org_id = new.org_id and l.claim_id = new.id) then
            raise exception 'claim % has no service lines: add at least one before it is ready', new.claim_number
                using errcode = 'check_violation', constraint = 'billing_claims_ready_needs_lines',
                      table = 'billing_claims', column = 'status';
        end if;
        if not exists (select 1 from public.claim_diagnoses d where d.org_id = new.org_id and d.claim_id = new.id) then
            raise exception 'claim % has no diagnoses: add at least one before it is ready', new.claim_number
                using errcode = 'check_violation', constraint = 'billing_claims_ready_needs_diagnoses',
                      table = 'billing_claims', column = 'status';
        end if;
        select * into problem from app.claim_line_documentation(new.org_id, array[new.id]) d
         where not (d.completed and d.same_patient and d.note_signed and (d.cosigned or not d.needs_cosignature))
         order by d.line_number limit 1;
        if found then
            if not problem.same_patient then
                raise exception 'claim %, line %: the session it bills is another patient''s', new.claim_number, problem.line_number
                    using errcode = 'check_violation', constraint = 'billing_claims_ready_encounter_patient',
                          table = 'billing_claims', column = 'status';
            elsif not problem.completed then
                raise exception 'claim %, line %: the session of % is not completed', new.claim_number, problem.line_number, problem.service_date
                    using errcode = 'check_violation', constraint = 'billing_claims_ready_encounter_completed',
                          table = 'billing_claims', column = 'status';
            elsif not problem.note_signed then
                raise exception 'claim %, line %: the session of % has no signed note; the clinician signs it first',
                        new.claim_number, problem.line_number, problem.service_date
                    using errcode = 'check_violation', constraint = 'billing_claims_ready_note_signed',
                          table = 'billing_claims', column = 'status';
            else
                raise exception 'claim %, line %: the note of the session of % waits for the supervisor''s cosignature',
                        new.claim_number, problem.line_number, problem.service_date
                    using errcode = 'check_violation', constraint = 'billing_claims_ready_note_cosigned',
                          table = 'billing_claims', column = 'status';
            end if;
        end if;
        select d.sequence, d.icd10_code into problem from public.claim_diagnoses d
         where d.org_id = new.org_id and d.claim_id = new.id
           and not app.is_patient_diagnosis(new.org_id, new.patient_id, d.icd10_code)
         order by d.sequence limit 1;
        if found then
            raise exception 'claim %: diagnosis % (%) is not one of the patient''s diagnoses; add it to the chart first',
                    new.claim_number, chr(64 + problem.sequence), problem.icd10_code
                using errcode = 'check_violation', constraint = 'billing_claims_ready_diagnosis_on_record',
                      table = 'billing_claims', column = 'status';
        end if;
        new.total_charge := (select coalesce(sum(l.charge), 0) from public.claim_line_items l
                              where l.org_id = new.org_id and l.claim_id = new.id);

    elsif old.status = 'ready' and new.status = 'submitted' then
        new.submitted_at := coalesce(new.submitted_at, now());
        -- The lock serializes every submission against this coverage: the second of two racing
        -- billers waits here, then reads the count the first one committed.
        select * into coverage from public.patient_insurance pi
         where pi.org_id = new.org_id and pi.id = new.patient_insurance_id
           for update;
        if coverage.authorization_number is not null or coverage.authorized_sessions is not null then
            select count(distinct l.service_date) into counted
              from public.claim_line_items l
             where l.org_id = new.org_id and l.claim_id = new.id
               and (cardinality(coverage.authorized_cpt_codes) = 0 or l.cpt_code = any (coverage.authorized_cpt_codes))
               and (coverage.authorization_start is null or l.service_date >= coverage.authorization_start)
               and (coverage.authorization_end is null or l.service_date <= coverage.authorization_end);
        end if;
        if coverage.authorized_sessions is not null
           and coverage.sessions_used + counted > coverage.authorized_sessions then
            if new.authorization_override_reason is null then
                raise exception 'claim %: authorization % allows % sessions and % are used; this claim''s % would make %',
                        new.claim_number, coalesce(coverage.authorization_number, '(no number)'),
                        coverage.authorized_sessions, coverage.sessions_used, counted, coverage.sessions_used + counted
                    using errcode = 'check_violation', constraint = 'billing_claims_authorization_exhausted',
                          table = 'billing_claims', column = 'status',
                          hint = 'an admin may submit it past the authorization with a reason';
            end if;
            over := coverage.sessions_used + counted - coverage.authorized_sessions;
        end if;
        if counted > 0 then
            update public.patient_insurance
               set sessions_used = sessions_used + (counted - over),
                   sessions_over_authorization = sessions_over_authorization + over
             where org_id = new.org_id and id = new.patient_insurance_id;
        end if;
        new.sessions_counted := counted;
        new.sessions_over_authorization := over;

    elsif new.status = 'voided' then
        if new.void_reason is null or length(btrim(new.void_reason)) = 0 then
            raise exception 'claim %: a voided claim needs the reason it was withdrawn', new.claim_number
                using errcode = 'check_violation', constraint = 'billing_claims_void_reason_required',
                      table = 'billing_claims', column = 'void_reason';
        end if;
        new.voided_at := now();
        if old.sessions_counted > 0 then
            update public.patient_insurance
               set sessions_used = greatest(sessions_used - (old.sessions_counted - old.sessions_over_authorization), 0),
                   sessions_over_authorization = greatest(sessions_over_authorization - old.sessions_over_authorization, 0)
             where org_id = new.org_id and id = new.patient_insurance_id;
        end if;

    elsif new.status in ('accepted', 'rejected', 'denied') then
        new.adjudicated_at := coalesce(new.adjudicated_at, now());
    end if;
    return new;
end
$$;
-- Named to run after billing_claims_status_transition (triggers fire in name order), so a move
-- off the arrows is refused as such before any of these rules is asked.
create trigger billing_claims_workflow before update on billing_claims
    for each row execute function app.billing_claim_workflow();

------------------------------------------------------------------------------------------------
-- Claim lines and diagnoses: frozen once the claim leaves draft, the total kept by the database

alter table claim_line_items
    add column patient_responsibility numeric(10, 2)
        constraint claim_line_items_patient_responsibility_check check (patient_responsibility >= 0),
    add column adjustment_amount numeric(10, 2);
comment on column claim_line_items.adjustment_amount is
    'What the payer''s remittance adjusted off this line other than the patient''s share (CAS groups CO, OA, PI, CR).';

-- Runs as the caller: the claim is looked up under the caller's row-level security, so a claim
-- the caller may not see is left to the policies (and the foreign keys) to refuse.
create function app.guard_claim_detail() returns trigger
language plpgsql
as $$
declare
    claim record;
    posting_only boolean;
begin
    if tg_op in ('UPDATE', 'DELETE') then
        select c.status, c.claim_number into claim from public.billing_claims c
         where c.org_id = old.org_id and c.id = old.claim_id;
        if found and claim.status <> 'draft' then
            -- Posting a remittance records what the payer paid on each line; nothing else changes.
            posting_only := tg_op = 'UPDATE' and tg_table_name = 'claim_line_items'
                and (to_jsonb(new) - array['paid_amount', 'patient_responsibility', 'adjustment_amount', 'updated_at'])
                    = (to_jsonb(old) - array['paid_amount', 'patient_responsibility', 'adjustment_amount', 'updated_at']);
            if not posting_only then
                raise exception 'claim % is %: its lines and diagnoses change only while it is a draft; void it and create a new claim',
                        claim.claim_number, claim.status
                    using errcode = 'check_violation', constraint = tg_table_name || '_immutable',
                          table = tg_table_name;
            end if;
            return new;
        end if;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        select c.status, c.claim_number into claim from public.billing_claims c
         where c.org_id = new.org_id and c.id = new.claim_id;
        if found and claim.status <> 'draft' then
            raise exception 'claim % is %: its lines and diagnoses change only while it is a draft; void it and create a new claim',
                    claim.claim_number, claim.status
                using errcode = 'check_violation', constraint = tg_table_name || '_immutable',
                      table = tg_table_name;
        end if;
        return new;
    end if;
    return old;
end
$$;
create trigger claim_line_items_frozen_after_draft before insert or update or delete on claim_line_items
    for each row execute function app.guard_claim_detail();
create trigger claim_diagnoses_frozen_after_draft before insert or update or delete on claim_diagnoses
    for each row execute function app.guard_claim_detail();

-- Box 28 is the sum of box 24F: recomputed whenever a line's charge comes or goes. Runs as the
-- caller, who may write this draft's lines and so may update the draft.
create function app.sum_claim_charges() returns trigger
language plpgsql
as $$
declare
    touched record;
begin
    for touched in
        select distinct t.org_id, t.claim_id from (values
            (case when tg_op <> 'INSERT' then old.org_id end, case when tg_op <> 'INSERT' then old.claim_id end),
            (case when tg_op <> 'DELETE' then new.org_id end, case when tg_op <> 'DELETE' then new.claim_id end)) t(org_id, claim_id)
         where t.claim_id is not null
    loop
        update public.billing_claims c
           set total_charge = s.total
          from (select coalesce(sum(l.charge), 0) as total from public.claim_line_items l
                 where l.org_id = touched.org_id and l.claim_id = touched.claim_id) s
         where c.org_id = touched.org_id and c.id = touched.claim_id and c.status = 'draft'
           and c.total_charge is distinct from s.total;
    end loop;
    return null;
end
$$;
create trigger claim_line_items_total_charge after insert or delete or update of charge, claim_id on claim_line_items
    for each row execute function app.sum_claim_charges();

------------------------------------------------------------------------------------------------
-- The fee schedule: what the practice charges for each code

create table fee_schedule_entries (
    id         uuid not null default gen_random_uuid(),
    org_id     uuid not null references organizations (id),
    cpt_code   text not null references cpt_codes (code),
    charge     numeric(10, 2) not null constraint fee_schedule_entries_charge_check check (charge > 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (org_id, id),
    constraint fee_schedule_entries_code_key unique (org_id, cpt_code)
);
comment on table fee_schedule_entries is 'The practice''s charge per CPT code; new claim lines take their charge from here.';
create trigger fee_schedule_entries_touch before update on fee_schedule_entries
    for each row execute function app.touch_updated_at();

------------------------------------------------------------------------------------------------
-- 837P files sent, with control numbers from a per-organization counter

-- One row per organization. Allocating is one `UPDATE ... RETURNING` (or an upsert), which
-- takes the row's lock: two exports at once get consecutive numbers, never the same one.
create table billing_counters (
    org_id                          uuid not null references organizations (id),
    last_interchange_control_number integer not null default 0
        constraint billing_counters_interchange_check check (last_interchange_control_number between 0 and 999999999),
    last_group_control_number       integer not null default 0
        constraint billing_counters_group_check check (last_group_control_number between 0 and 999999999),
    updated_at                      timestamptz not null default now(),
    primary key (org_id)
);
comment on table billing_counters is 'The last X12 control numbers an organization used (ISA13, GS06).';
create trigger billing_counters_touch before update on billing_counters
    for each row execute function app.touch_updated_at();

create table claim_exports (
    id                         uuid not null default gen_random_uuid(),
    org_id                     uuid not null references organizations (id),
    interchange_control_number integer not null check (interchange_control_number between 1 and 999999999),
    group_control_number       integer not null check (group_control_number between 1 and 999999999),
    file_name                  text not null check (file_name ~ '^[A-Za-z0-9._-]{1,120}$'),
    content                    text not null,
    sha256                     bytea not null,
    claim_count                integer not null check (claim_count >= 1),
    total_charge               numeric(12, 2) not null check (total_charge >= 0),
    created_by                 uuid,
    created_at                 timestamptz not null default now(),
    primary key (org_id, id),
    constraint claim_exports_interchange_control_number_key unique (org_id, interchange_control_number),
    constraint claim_exports_group_control_number_key unique (org_id, group_control_number),
    constraint claim_exports_sha256_check check (sha256 = sha256(convert_to(content, 'UTF8'))),
    foreign key (org_id, created_by) references users (org_id, id)
);
comment on table claim_exports is 'Each 837P file sent, exactly as sent. Append-only.';
create index claim_exports_created_idx on claim_exports (org_id, created_at desc);

create table claim_export_claims (
    id        uuid not null default gen_random_uuid(),
    org_id    uuid not null references organizations (id),
    export_id uuid not null,
    claim_id  uuid not null,
    primary key (org_id, id),
    constraint claim_export_claims_claim_key unique (org_id, export_id, claim_id),
    foreign key (org_id, export_id) references claim_exports (org_id, id),
    foreign key (org_id, claim_id) references billing_claims (org_id, id)
);
comment on table claim_export_claims is 'Which claims went out in which 837P file. Append-only.';
create index claim_export_claims_claim_idx on claim_export_claims (org_id, claim_id);

------------------------------------------------------------------------------------------------
-- 835 remittances received, and what each posted

create table remittances (
    id                 uuid not null default gen_random_uuid(),
    org_id             uuid not null references organizations (id),
    -- TRN02, the check or EFT trace number: the same payment imported twice is found by it.
    trace_number       text not null check (length(trace_number) between 1 and 50),
    payer_identifier   text not null check (length(payer_identifier) between 1 and 80),
    payer_name         text not null,
    insurance_payer_id uuid,
    payment_amount     numeric(12, 2) not null,
    payment_method     text not null check (payment_method ~ '^[A-Z]{3}$'),
    payment_date       date,
    payee_npi          text,
    -- The whole 835 file as received (a file may carry several payments).
    content            text not null,
    sha256             bytea not null,
    imported_by        uuid,
    created_at         timestamptz not null default now(),
    primary key (org_id, id),
    constraint remittances_trace_number_key unique (org_id, payer_identifier, trace_number),
    constraint remittances_sha256_check check (sha256 = sha256(convert_to(content, 'UTF8'))),
    foreign key (org_id, insurance_payer_id) references insurance_payers (org_id, id),
    foreign key (org_id, imported_by) references users (org_id, id)
);
comment on table remittances is 'A payer''s payment (one 835 ST..SE) as imported. Append-only.';
create index remittances_created_idx on remittances (org_id, created_at desc);

create table remittance_claims (
    id                          uuid not null default gen_random_uuid(),
    org_id                      uuid not null references organizations (id),
    remittance_id               uuid not null,
    -- The CLP's place in its remittance, 1, 2, 3, ...
    position                    integer not null check (position >= 1),
    -- NULL when CLP01 named no claim of the practice.
    claim_id                    uuid,
    claim_number                text not null,
    status_code                 text not null check (status_code ~ '^[0-9]{1,2}$'),
    charge                      numeric(12, 2) not null,
    paid                        numeric(12, 2) not null,
    patient_responsibility      numeric(12, 2) not null default 0,
    payer_claim_control_number  text,
    -- What posting did to the claim: its status before and after, and why when nothing moved.
    claim_status_before         claim_status,
    claim_status_after          claim_status,
    note                        text,
    created_at                  timestamptz not null default now(),
    primary key (org_id, id),
    constraint remittance_claims_position_key unique (org_id, remittance_id, position),
    foreign key (org_id, remittance_id) references remittances (org_id, id),
    foreign key (org_id, claim_id) references billing_claims (org_id, id)
);
comment on table remittance_claims is 'One CLP of a remittance: the payer''s decision on one claim. Append-only.';
create index remittance_claims_claim_idx on remittance_claims (org_id, claim_id) where claim_id is not null;

create table remittance_adjustments (
    id                  uuid not null default gen_random_uuid(),
    org_id              uuid not null references organizations (id),
    remittance_claim_id uuid not null,
    -- The claim (for the audit log's patient), and the line for a service-level CAS.
    claim_id            uuid,
    claim_line_item_id  uuid,
    -- For a service-level CAS: the SVC's procedure code (also when no line matched); NULL at claim level.
    service_cpt_code    text,
    group_code          text not null check (group_code in ('CO', 'CR', 'OA', 'PI', 'PR')),
    reason_code         text not null check (reason_code ~ '^[A-Z0-9]{1,5}$'),
    amount              numeric(12, 2) not null,
    created_at          timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, remittance_claim_id) references remittance_claims (org_id, id),
    foreign key (org_id, claim_id) references billing_claims (org_id, id),
    foreign key (org_id, claim_line_item_id) references claim_line_items (org_id, id),
    constraint remittance_adjustments_level_check check (claim_line_item_id is null or service_cpt_code is not null)
);
comment on table remittance_adjustments is 'CAS adjustments of a remittance, at claim or service-line level. Append-only.';
create index remittance_adjustments_claim_idx on remittance_adjustments (org_id, remittance_claim_id);

-- What was sent and received stays as it was, for every role including the owner.
do $$
declare
    t text;
begin
    foreach t in array array['claim_exports', 'claim_export_claims', 'remittances', 'remittance_claims',
                             'remittance_adjustments']
    loop
        execute format('create trigger %I before update or delete on public.%I '
                       'for each row execute function app.refuse_audit_change()', t || '_append_only', t);
    end loop;
end
$$;

------------------------------------------------------------------------------------------------
-- Row-level security, grants, audit

do $$
declare
    t record;
begin
    for t in select * from (values
        ('fee_schedule_entries', 'none'), ('billing_counters', 'none'), ('claim_exports', 'none'),
        ('claim_export_claims', 'claim'), ('remittances', 'none'), ('remittance_claims', 'claim'),
        ('remittance_adjustments', 'claim')
    ) as v(table_name, patient_link)
    loop
        execute format('alter table public.%I enable row level security', t.table_name);
        execute format('revoke all on public.%I from public, anon, authenticated, service_role', t.table_name);
        execute format('grant select, insert, update, delete on public.%I to service_role', t.table_name);
        execute format(
            'create trigger %I after insert or update or delete on public.%I '
            'for each row execute function app.audit_row(%L)',
            t.table_name || '_audit', t.table_name, t.patient_link);
    end loop;
end
$$;

-- Everyone in the practice reads the fee schedule; admins and billers keep it.
grant select, insert, update, delete on fee_schedule_entries to authenticated;
create policy fee_schedule_entries_select on fee_schedule_entries for select to authenticated
    using (org_id = (select app.org_id()));
create policy fee_schedule_entries_insert on fee_schedule_entries for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')));
create policy fee_schedule_entries_update on fee_schedule_entries for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')))
    with check (org_id = (select app.org_id()));
create policy fee_schedule_entries_delete on fee_schedule_entries for delete to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')));

-- The counters move with exports, which admins and billers make.
grant select, insert, update on billing_counters to authenticated;
create policy billing_counters_select on billing_counters for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')));
create policy billing_counters_insert on billing_counters for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')));
create policy billing_counters_update on billing_counters for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin', 'billing')))
    with check (org_id = (select app.org_id()));

-- Files sent and received: admins and billers add them, providers read them like the claims;
-- nobody changes them.
do $$
declare
    t text;
begin
    foreach t in array array['claim_exports', 'claim_export_claims', 'remittances', 'remittance_claims',
                             'remittance_adjustments']
    loop
        execute format('grant select, insert on public.%I to authenticated', t);
        execute format(
            'create policy %I on public.%I for select to authenticated '
            'using (org_id = (select app.org_id()) and (select app.caller_is(''admin'', ''billing'', ''provider'')))',
            t || '_select', t);
        execute format(
            'create policy %I on public.%I for insert to authenticated '
            'with check (org_id = (select app.org_id()) and (select app.caller_is(''admin'', ''billing'')))',
            t || '_insert', t);
    end loop;
end
$$;
