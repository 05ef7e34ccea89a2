-- 0004 Clinical: patients, diagnoses, appointments, encounters, the legal record (clinical
-- notes and their signatures), treatment plans and medications.
--
-- Rules a clinician relies on are enforced here, for every role including the owner:
--   * a status moves only along the seed's arrows (app.enforce_status_transition);
--   * a signed note never changes; it is superseded by an amendment or addendum, a new version
--     that links back to it, in the same transaction (app.guard_clinical_note and friends);
--   * one current version per note lineage and per treatment-plan lineage;
--   * no provider is double-booked.

-- A generic guard for status machines: the trigger's arguments list the legal moves as
-- 'from>to'. A move not listed fails with a check_violation naming `<table>_status_transition`.
create function app.enforce_status_transition() returns trigger
language plpgsql
as $$
begin
    if new.status is distinct from old.status
       and not ((old.status::text || '>' || new.status::text) = any (tg_argv)) then
        raise exception '% status cannot change from % to %', tg_table_name, old.status, new.status
            using errcode = 'check_violation',
                  constraint = tg_table_name || '_status_transition',
                  table = tg_table_name, column = 'status',
                  hint = 'allowed moves: ' || array_to_string(tg_argv, ', ');
    end if;
    return new;
end
$$;

------------------------------------------------------------------------------------------------
-- Patients

create type patient_status as enum ('active', 'inactive', 'discharged');

create table patients (
    id                  uuid not null default gen_random_uuid(),
    org_id              uuid not null references organizations (id),
    -- The practice's record number, shown on every page and printed on claims.
    mrn                 text not null default ('P' || upper(substr(md5(gen_random_uuid()::text), 1, 8)))
                        check (mrn ~ '^[A-Za-z0-9-]{1,32}$'),
    first_name          text not null check (length(btrim(first_name)) between 1 and 100),
    last_name           text not null check (length(btrim(last_name)) between 1 and 100),
    preferred_name      text,
    date_of_birth       date not null check (date_of_birth >= date '1900-01-01'),
    sex_at_birth        text check (sex_at_birth in ('female', 'male', 'intersex', 'unknown')),
    gender_identity     text,
    pronouns            text,
    email               citext,
    phone               text,
    address_line1       text,
    address_line2       text,
    city                text,
    state               text check (state ~ '^[A-Z]{2}$'),
    postal_code         text check (postal_code ~ '^[0-9]{5}(-?[0-9]{4})?$'),
    primary_provider_id uuid,
    status              patient_status not null default 'active',
    discharged_on       date,
    discharge_reason    text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (org_id, id),
    constraint patients_mrn_key unique (org_id, mrn),
    foreign key (org_id, primary_provider_id) references providers (org_id, id),
    constraint patients_discharge_check check (
        (status = 'discharged') = (discharged_on is not null)
        and (status <> 'discharged' or length(btrim(discharge_reason)) > 0))
);
comment on table patients is 'A client of the practice. Discharged or made inactive, never deleted.';
-- Name search within one organization, typo-tolerant (pg_trgm), org_id leading (btree_gin).
create index patients_name_trgm_idx on patients
    using gin (org_id, last_name gin_trgm_ops, first_name gin_trgm_ops);
create index patients_name_idx on patients (org_id, lower(last_name), lower(first_name));
create index patients_date_of_birth_idx on patients (org_id, date_of_birth);
create trigger patients_touch before update on patients
    for each row execute function app.touch_updated_at();

------------------------------------------------------------------------------------------------
-- Diagnoses

create type diagnosis_status as enum ('active', 'resolved', 'ruled_out');

create table patient_diagnoses (
    id                      uuid not null default gen_random_uuid(),
    org_id                  uuid not null references organizations (id),
    patient_id              uuid not null,
    icd10_code              text not null references icd10_codes (code),
    status                  diagnosis_status not null default 'active',
    is_primary              boolean not null default false,
    onset_date              date,
    diagnosed_on            date not null default current_date,
    resolved_on             date,
    ruled_out_on            date,
    diagnosed_by_provider_id uuid,
    notes                   text,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, diagnosed_by_provider_id) references providers (org_id, id),
    constraint patient_diagnoses_resolved_check check ((status = 'resolved') = (resolved_on is not null)),
    constraint patient_diagnoses_ruled_out_check check ((status = 'ruled_out') = (ruled_out_on is not null)),
    constraint patient_diagnoses_dates_check check (resolved_on >= onset_date and ruled_out_on >= diagnosed_on)
);
comment on table patient_diagnoses is 'ICD-10 diagnoses of a patient; resolved or ruled out, never deleted (history).';
create unique index patient_diagnoses_one_primary on patient_diagnoses (org_id, patient_id)
    where is_primary and status = 'active';
create unique index patient_diagnoses_active_code_key on patient_diagnoses (org_id, patient_id, icd10_code)
    where status = 'active';
create trigger patient_diagnoses_touch before update on patient_diagnoses
    for each row execute function app.touch_updated_at();
create trigger patient_diagnoses_status_transition before update of status on patient_diagnoses
    for each row execute function app.enforce_status_transition(
        'active>resolved', 'active>ruled_out', 'resolved>active');

-- Only billable (leaf) ICD-10-CM codes describe a patient: a category such as F32 is not a diagnosis.
create function app.require_billable_icd10() returns trigger
language plpgsql stable
as $$
begin
    if not exists (select 1 from public.icd10_codes c where c.code = new.icd10_code and c.is_billable) then
        raise exception 'ICD-10 code % is not a billable code; choose a more specific code', new.icd10_code
            using errcode = 'check_violation', constraint = tg_table_name || '_billable_code',
                  table = tg_table_name, column = 'icd10_code';
    end if;
    return new;
end
$$;
create trigger patient_diagnoses_billable_code before insert or update of icd10_code on patient_diagnoses
    for each row execute function app.require_billable_icd10();

------------------------------------------------------------------------------------------------
-- Appointments

create type encounter_type as enum ('individual_therapy', 'group_therapy', 'family_therapy', 'intake',
                                    'crisis', 'telehealth', 'medication_management');
create type session_modality as enum ('in_person', 'video', 'audio_only');
create type appointment_status as enum ('scheduled', 'completed', 'cancelled', 'no_show');

-- A recurrence rule in RFC 5545 terms, as JSON:
--   {"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6, "BYDAY": ["TU"]}  (COUNT or UNTIL, not both)
create function app.recurrence_rule_is_valid(rule jsonb) returns boolean
language sql immutable parallel safe
as $$
    -- coalesce: a missing key makes a comparison NULL, and a CHECK lets NULL through.
    select coalesce(
           jsonb_typeof(rule) = 'object'
       and not exists (select 1 from jsonb_object_keys(rule) k
                       where k not in ('FREQ', 'INTERVAL', 'COUNT', 'UNTIL', 'BYDAY'))
       and rule ->> 'FREQ' in ('DAILY', 'WEEKLY', 'MONTHLY')
       and (not rule ? 'INTERVAL' or (jsonb_typeof(rule -> 'INTERVAL') = 'number'
                                      and (rule ->> 'INTERVAL') ~ '^[0-9]{1,3}$'
                                      and (rule ->> 'INTERVAL')::int between 1 and 52))
       and (not rule ? 'COUNT' or (jsonb_typeof(rule -> 'COUNT') = 'number'
                                   and (rule ->> 'COUNT') ~ '^[0-9]{1,3}$'
                                   and (rule ->> 'COUNT')::int between 1 and 520))
       and (not rule ? 'UNTIL' or (jsonb_typeof(rule -> 'UNTIL') = 'string'
                                   and (rule ->> 'UNTIL') ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?)?$'))
       and not (rule ? 'COUNT' and rule ? 'UNTIL')
       and (not rule ? 'BYDAY' or (jsonb_typeof(rule -> 'BYDAY') = 'array'
            and jsonb_array_length(rule -> 'BYDAY') between 1 and 7
            and not exists (select 1 from jsonb_array_elements(rule -> 'BYDAY') d
                            where jsonb_typeof(d) <> 'string'
                               or d #>> '{}' not in ('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')))),
        false)
$$;

grant execute on function app.recurrence_rule_is_valid(jsonb) to authenticated, service_role;

create table appointments (
    id               uuid not null default gen_random_uuid(),
    org_id           uuid not null references organizations (id),
    patient_id       uuid not null,
    provider_id      uuid not null,
    appointment_type encounter_type not null default 'individual_therapy',
    modality         session_modality not null default 'in_person',
    starts_at        timestamptz not null,
    ends_at          timestamptz not null,
    time_range       tstzrange generated always as (tstzrange(starts_at, ends_at, '[)')) stored,
    status           appointment_status not null default 'scheduled',
    -- Occurrences of a recurring series point at its first appointment, which holds the rule.
    series_id        uuid,
    recurrence_rule  jsonb,
    location         text,
    cancelled_at     timestamptz,
    cancel_reason    text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (org_id, id),
    constraint appointments_patient_key unique (org_id, id, patient_id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, provider_id) references providers (org_id, id),
    foreign key (org_id, series_id) references appointments (org_id, id),
    constraint appointments_time_check check (ends_at > starts_at and ends_at - starts_at <= interval '12 hours'),
    constraint appointments_recurrence_rule_check check (recurrence_rule is null or app.recurrence_rule_is_valid(recurrence_rule)),
    constraint appointments_cancel_check check ((status = 'cancelled') = (cancelled_at is not null)),
    -- No provider is double-booked: two live appointments of one provider never overlap.
    constraint appointments_no_double_booking exclude using gist
        (org_id with =, provider_id with =, time_range with &&) where (status <> 'cancelled')
);
comment on table appointments is 'Scheduled sessions; recurring series share series_id. Cancelled, never deleted.';
comment on constraint appointments_no_double_booking on appointments is
    'A provider cannot hold two overlapping appointments that are not cancelled.';
-- A provider's calendar by day and week.
create index appointments_provider_calendar_idx on appointments (org_id, provider_id, starts_at);
create index appointments_patient_idx on appointments (org_id, patient_id, starts_at);
create index appointments_series_idx on appointments (org_id, series_id) where series_id is not null;
create trigger appointments_touch before update on appointments
    for each row execute function app.touch_updated_at();
create trigger appointments_status_transition before update of status on appointments
    for each row execute function app.enforce_status_transition(
        'scheduled>completed', 'scheduled>cancelled', 'scheduled>no_show');

------------------------------------------------------------------------------------------------
-- Encounters

create type encounter_status as enum ('scheduled', 'in_progress', 'completed');

create table encounters (
    id                     uuid not null default gen_random_uuid(),
    org_id                 uuid not null references organizations (id),
    patient_id             uuid not null,
    provider_id            uuid not null,
    appointment_id         uuid,
    -- The participants of one group session share this id; each has an encounter and a note.
    group_session_id       uuid,
    encounter_type         encounter_type not null,
    modality               session_modality not null default 'in_person',
    status                 encounter_status not null default 'scheduled',
    scheduled_start        timestamptz,
    started_at             timestamptz,
    ended_at               timestamptz,
    duration_minutes       integer generated always as
                           (floor(extract(epoch from (ended_at - started_at)) / 60)::integer) stored,
    -- For E/M visits with psychotherapy: the psychotherapy minutes, stated separately.
    psychotherapy_minutes  integer check (psychotherapy_minutes > 0),
    interactive_complexity boolean not null default false,
    place_of_service       text check (place_of_service ~ '^[0-9]{2}$'),
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    primary key (org_id, id),
    constraint encounters_patient_key unique (org_id, id, patient_id),
    constraint encounters_appointment_key unique (org_id, appointment_id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, provider_id) references providers (org_id, id),
    foreign key (org_id, appointment_id, patient_id) references appointments (org_id, id, patient_id),
    constraint encounters_times_check check (
        (ended_at is null or (started_at is not null and ended_at > started_at))
        and (status = 'scheduled' or started_at is not null)
        and ((status = 'completed') = (ended_at is not null)))
);
comment on table encounters is 'A clinical session with one patient (group sessions: one per participant).';
comment on column encounters.duration_minutes is 'Derived from started_at and ended_at; whole minutes.';
create index encounters_patient_idx on encounters (org_id, patient_id, started_at desc);
create index encounters_provider_idx on encounters (org_id, provider_id, started_at desc);
create trigger encounters_touch before update on encounters
    for each row execute function app.touch_updated_at();
create trigger encounters_status_transition before update of status on encounters
    for each row execute function app.enforce_status_transition(
        'scheduled>in_progress', 'in_progress>completed');
