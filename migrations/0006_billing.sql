-- 0006 Billing: payers, a patient's coverage and authorizations, and claims on the CMS-1500
-- model (claim_diagnoses are box 21 A-L; claim_line_items are box 24 with their pointers).

create table insurance_payers (
    id                           uuid not null default gen_random_uuid(),
    org_id                       uuid not null references organizations (id),
    name                         text not null check (length(btrim(name)) between 1 and 200),
    -- The payer's electronic id at the clearinghouse (837P loop 2010BB NM109).
    payer_id                     text not null check (payer_id ~ '^[A-Za-z0-9]{2,80}$'),
    requires_prior_authorization boolean not null default false,
    address_line1                text,
    city                         text,
    state                        text check (state ~ '^[A-Z]{2}$'),
    postal_code                  text check (postal_code ~ '^[0-9]{5}(-?[0-9]{4})?$'),
    phone                        text,
    is_active                    boolean not null default true,
    created_at                   timestamptz not null default now(),
    updated_at                   timestamptz not null default now(),
    primary key (org_id, id),
    constraint insurance_payers_payer_id_key unique (org_id, payer_id)
);
comment on table insurance_payers is 'Insurance companies a practice bills, with their electronic payer id.';
create trigger insurance_payers_touch before update on insurance_payers
    for each row execute function app.touch_updated_at();

create type insurance_priority as enum ('primary', 'secondary', 'tertiary');
create type subscriber_relationship as enum ('self', 'spouse', 'child', 'other');

create table patient_insurance (
    id                       uuid not null default gen_random_uuid(),
    org_id                   uuid not null references organizations (id),
    patient_id               uuid not null,
    insurance_payer_id       uuid not null,
    priority                 insurance_priority not null,
    member_id                text not null check (length(btrim(member_id)) between 1 and 80),
    group_number             text,
    subscriber_relationship  subscriber_relationship not null default 'self',
    subscriber_first_name    text,
    subscriber_last_name     text,
    subscriber_date_of_birth date,
    effective_from           date not null,
    effective_to             date,
    is_active                boolean not null default true,
    -- Authorization of sessions by the payer: a session counts once, when its claim is
    -- submitted, and is given back when that claim is voided.
    authorization_number     text,
    authorization_start      date,
    authorization_end        date,
    authorized_cpt_codes     text[] not null default '{}',
    authorized_sessions      integer check (authorized_sessions >= 0),
    sessions_used            integer not null default 0 check (sessions_used >= 0),
    created_at               timestamptz not null default now(),
    updated_at               timestamptz not null default now(),
    primary key (org_id, id),
    constraint patient_insurance_patient_key unique (org_id, id, patient_id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, insurance_payer_id) references insurance_payers (org_id, id),
    constraint patient_insurance_sessions_check check (authorized_sessions is null or sessions_used <= authorized_sessions),
    constraint patient_insurance_dates_check check (
        (effective_to is null or effective_to >= effective_from)
        and (authorization_end is null or authorization_end >= authorization_start)),
    constraint patient_insurance_subscriber_check check (
        subscriber_relationship = 'self'
        or (subscriber_first_name is not null and subscriber_last_name is not null and subscriber_date_of_birth is not null))
);
comment on table patient_insurance is 'A patient''s coverage, ranked, with the payer''s session authorization and its usage.';
comment on constraint patient_insurance_sessions_check on patient_insurance is
    'Sessions used can never exceed the sessions the payer authorized.';
create unique index patient_insurance_one_active_per_priority on patient_insurance (org_id, patient_id, priority)
    where is_active;
create trigger patient_insurance_touch before update on patient_insurance
    for each row execute function app.touch_updated_at();

create type claim_status as enum ('draft', 'ready', 'submitted', 'accepted', 'rejected', 'denied', 'paid', 'appealed');

create table billing_claims (
    id                            uuid not null default gen_random_uuid(),
    org_id                        uuid not null references organizations (id),
    patient_id                    uuid not null,
    patient_insurance_id          uuid not null,
    rendering_provider_id         uuid not null,
    -- The practice's claim number (837P CLM01, the patient control number).
    claim_number                  text not null default ('C' || upper(substr(md5(gen_random_uuid()::text), 1, 10)))
                                  check (claim_number ~ '^[A-Za-z0-9-]{1,20}$'),
    status                        claim_status not null default 'draft',
    place_of_service              text not null default '11' check (place_of_service ~ '^[0-9]{2}$'),
    prior_authorization_number    text,
    total_charge                  numeric(10, 2) not null default 0 check (total_charge >= 0),
    paid_amount                   numeric(10, 2) check (paid_amount >= 0),
    patient_responsibility        numeric(10, 2) check (patient_responsibility >= 0),
    -- An admin's reason to submit past the authorized sessions.
    authorization_override_reason text,
    submitted_at                  timestamptz,
    adjudicated_at                timestamptz,
    created_at                    timestamptz not null default now(),
    updated_at                    timestamptz not null default now(),
    primary key (org_id, id),
    constraint billing_claims_claim_number_key unique (org_id, claim_number),
    foreign key (org_id, patient_id) references patients (org_id, id),
    -- The claim bills the patient's own coverage.
    foreign key (org_id, patient_insurance_id, patient_id) references patient_insurance (org_id, id, patient_id),
    foreign key (org_id, rendering_provider_id) references providers (org_id, id),
    constraint billing_claims_submitted_check check (
        status in ('draft', 'ready') or submitted_at is not null)
);
comment on table billing_claims is 'A CMS-1500 / 837P professional claim. Status moves only along the seed''s arrows.';
create index billing_claims_status_idx on billing_claims (org_id, status, created_at desc);
create index billing_claims_patient_idx on billing_claims (org_id, patient_id);
create trigger billing_claims_touch before update on billing_claims
    for each row execute function app.touch_updated_at();
create trigger billing_claims_status_transition before update of status on billing_claims
    for each row execute function app.enforce_status_transition(
        'draft>ready', 'ready>submitted',
        'submitted>accepted', 'submitted>rejected', 'submitted>denied',
        'accepted>paid', 'accepted>appealed', 'rejected>paid', 'rejected>appealed',
        'denied>paid', 'denied>appealed');

create table claim_diagnoses (
    id                   uuid not null default gen_random_uuid(),
    org_id               uuid not null references organizations (id),
    claim_id             uuid not null,
    -- 1-12: box 21 letters A-L; line items point at these numbers.
    sequence             smallint not null constraint claim_diagnoses_sequence_check check (sequence between 1 and 12),
    icd10_code           text not null references icd10_codes (code),
    patient_diagnosis_id uuid,
    primary key (org_id, id),
    foreign key (org_id, claim_id) references billing_claims (org_id, id) on delete cascade,
    foreign key (org_id, patient_diagnosis_id) references patient_diagnoses (org_id, id),
    constraint claim_diagnoses_sequence_key unique (org_id, claim_id, sequence),
    constraint claim_diagnoses_code_key unique (org_id, claim_id, icd10_code)
);
comment on table claim_diagnoses is 'ICD-10 codes on a claim, in box 21 order (sequence 1-12 = A-L).';

-- Diagnosis pointers: one to four distinct sequence numbers between 1 and 12.
create function app.diagnosis_pointers_are_valid(pointers integer[]) returns boolean
language sql immutable parallel safe
as $$
    select array_ndims(pointers) = 1
       and cardinality(pointers) between 1 and 4
       and array_position(pointers, null) is null
       and pointers <@ array[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
       and (select count(distinct p) from unnest(pointers) p) = cardinality(pointers)
$$;
grant execute on function app.diagnosis_pointers_are_valid(integer[]) to authenticated, service_role;

create table claim_line_items (
    id                 uuid not null default gen_random_uuid(),
    org_id             uuid not null references organizations (id),
    claim_id           uuid not null,
    encounter_id       uuid not null,
    line_number        smallint not null check (line_number between 1 and 50),
    cpt_code           text not null references cpt_codes (code),
    modifiers          text[] not null default '{}' constraint claim_line_items_modifiers_check check (
                           cardinality(modifiers) <= 4
                           and array_to_string(modifiers, ',', '?') ~ '^([0-9A-Z]{2}(,|$))*$'),
    units              smallint not null default 1 check (units between 1 and 99),
    charge             numeric(10, 2) not null check (charge >= 0),
    service_date       date not null,
    place_of_service   text check (place_of_service ~ '^[0-9]{2}$'),
    -- Box 24E: the claim_diagnoses.sequence numbers this line is for, most important first.
    diagnosis_pointers integer[] not null
                       constraint claim_line_items_diagnosis_pointers_check
                       check (app.diagnosis_pointers_are_valid(diagnosis_pointers)),
    paid_amount        numeric(10, 2) check (paid_amount >= 0),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, claim_id) references billing_claims (org_id, id) on delete cascade,
    foreign key (org_id, encounter_id) references encounters (org_id, id),
    constraint claim_line_items_line_key unique (org_id, claim_id, line_number)
);
comment on table claim_line_items is 'Box 24 service lines: CPT code, modifiers, units, charge and diagnosis pointers.';
create index claim_line_items_encounter_idx on claim_line_items (org_id, encounter_id);
create trigger claim_line_items_touch before update on claim_line_items
    for each row execute function app.touch_updated_at();

-- At commit, every pointer of every line of the claim names a diagnosis of that claim. Deferred,
-- so a biller may renumber diagnoses and lines in one transaction.
create function app.check_claim_diagnosis_pointers() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
    row_org uuid := coalesce(new.org_id, old.org_id);
    row_claim uuid := coalesce(new.claim_id, old.claim_id);
    bad record;
begin
    select l.line_number, p.pointer into bad
      from public.claim_line_items l cross join lateral unnest(l.diagnosis_pointers) as p(pointer)
     where l.org_id = row_org and l.claim_id = row_claim
       and not exists (select 1 from public.claim_diagnoses d
                        where d.org_id = l.org_id and d.claim_id = l.claim_id and d.sequence = p.pointer)
     limit 1;
    if found then
        raise exception 'line % of the claim points at diagnosis % (%), which the claim does not have',
                bad.line_number, bad.pointer, chr(64 + bad.pointer)
            using errcode = 'foreign_key_violation', constraint = 'claim_line_items_diagnosis_pointers_fkey',
                  table = 'claim_line_items', column = 'diagnosis_pointers';
    end if;
    return null;
end
$$;
create constraint trigger claim_line_items_pointers_check after insert or update on claim_line_items
    deferrable initially deferred
    for each row execute function app.check_claim_diagnosis_pointers();
create constraint trigger claim_diagnoses_pointers_check after update or delete on claim_diagnoses
    deferrable initially deferred
    for each row execute function app.check_claim_diagnosis_pointers();
