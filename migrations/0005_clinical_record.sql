-- 0005 The legal record: clinical notes, their signatures, treatment plans, medications.
--
-- A clinical note is a lineage of versions (lineage_id = the first version's id). Only the
-- current version is the note; earlier versions stay exactly as they were signed.
--
--   draft --sign--> signed --(new version inserted: amendment)--> amended
--                          --(new version inserted: addendum)---> addended
--
-- Inserting version n+1 with previous_version_id = version n is the only way to supersede a
-- signed note: a BEFORE INSERT trigger checks that version n is the current signed version by
-- the same author, then flips it (is_current = false, status amended/addended) in the same
-- statement. That flip is the only change a signed note ever accepts, and a deferred check
-- refuses to commit it without the new version that explains it.

create type note_status as enum ('draft', 'signed', 'amended', 'addended');
create type note_change_kind as enum ('original', 'amendment', 'addendum');

-- The sections of each note format, in reading order.
create function app.note_sections(fmt note_format) returns text[]
language sql immutable parallel safe
as $$
    select case fmt
        when 'SOAP' then array['subjective', 'objective', 'assessment', 'plan']
        when 'DAP'  then array['data', 'assessment', 'plan']
        when 'BIRP' then array['behavior', 'intervention', 'response', 'plan']
    end
$$;

-- Note content is a JSON object with exactly the sections of its format, each a string.
create function app.note_content_matches_format(fmt note_format, content jsonb) returns boolean
language sql immutable parallel safe
as $$
    select jsonb_typeof(content) = 'object'
       and (select coalesce(array_agg(k order by k), '{}') from jsonb_object_keys(content) k)
           = (select array_agg(s order by s) from unnest(app.note_sections(fmt)) s)
       and not exists (select 1 from jsonb_each(content) e where jsonb_typeof(e.value) <> 'string')
$$;
grant execute on function app.note_sections(note_format), app.note_content_matches_format(note_format, jsonb)
    to authenticated, service_role;

create table clinical_notes (
    id                  uuid not null default gen_random_uuid(),
    org_id              uuid not null references organizations (id),
    patient_id          uuid not null,
    encounter_id        uuid not null,
    author_provider_id  uuid not null,
    lineage_id          uuid not null,
    version             integer not null default 1 check (version >= 1),
    is_current          boolean not null default true,
    status              note_status not null default 'draft',
    format              note_format not null,
    content             jsonb not null,
    change_kind         note_change_kind not null default 'original',
    -- Why the note was amended, or why the addendum was added.
    change_reason       text,
    -- The text an addendum adds; the addended version's content is the original, unchanged.
    addendum_text       text,
    previous_version_id uuid,
    signed_at           timestamptz,
    -- SHA-256 over the canonical (RFC 8785) serialization of the content and identifying fields,
    -- computed by the server when signing; note_signatures sign this hash.
    content_hash        bytea check (octet_length(content_hash) = 32),
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    -- The note's encounter is of the same patient.
    foreign key (org_id, encounter_id, patient_id) references encounters (org_id, id, patient_id),
    foreign key (org_id, author_provider_id) references providers (org_id, id),
    foreign key (org_id, previous_version_id) references clinical_notes (org_id, id),
    constraint clinical_notes_content_check check (app.note_content_matches_format(format, content)),
    constraint clinical_notes_lineage_version_check check (
        (version = 1) = (previous_version_id is null)
        and (version = 1) = (change_kind = 'original')
        and (version > 1 or lineage_id = id)),
    constraint clinical_notes_change_reason_check check (
        change_kind = 'original' or length(btrim(change_reason)) > 0),
    constraint clinical_notes_addendum_check check (
        (change_kind = 'addendum') = (addendum_text is not null)
        and (addendum_text is null or length(btrim(addendum_text)) > 0)),
    constraint clinical_notes_signed_check check (
        (status = 'draft') = (signed_at is null) and (status = 'draft' or content_hash is not null)),
    -- Drafts and signed versions are current; amended and addended versions never are.
    constraint clinical_notes_current_check check (is_current = (status in ('draft', 'signed'))),
    constraint clinical_notes_version_key unique (org_id, lineage_id, version),
    -- A version is superseded at most once: the history is a line, not a tree.
    constraint clinical_notes_previous_version_key unique (org_id, previous_version_id)
);
comment on table clinical_notes is
    'The legal medical record: versioned, append-only once signed. AI drafts live in note_drafts.';
create unique index clinical_notes_one_current on clinical_notes (org_id, lineage_id) where is_current;
create index clinical_notes_encounter_idx on clinical_notes (org_id, encounter_id);
create index clinical_notes_patient_idx on clinical_notes (org_id, patient_id, created_at desc);
create index clinical_notes_unsigned_idx on clinical_notes (org_id, author_provider_id) where status = 'draft';
create trigger clinical_notes_touch before update on clinical_notes
    for each row execute function app.touch_updated_at();
create trigger clinical_notes_status_transition before update of status on clinical_notes
    for each row execute function app.enforce_status_transition(
        'draft>signed', 'signed>amended', 'signed>addended');

-- Signed versions are immutable for every role, the owner included.
create function app.guard_clinical_note() returns trigger
language plpgsql
as $$
begin
    if tg_op = 'DELETE' then
        -- A draft that was never signed and supersedes nothing is not yet part of the record.
        if old.status = 'draft' and old.version = 1 then
            return old;
        end if;
        raise exception 'clinical note % (version %) is part of the legal record and cannot be deleted',
                old.id, old.version
            using errcode = 'check_violation', constraint = 'clinical_notes_signed_immutable',
                  table = 'clinical_notes';
    end if;

    -- Who the note is about, and where it sits in its lineage, never changes.
    if (new.id, new.org_id, new.patient_id, new.encounter_id, new.author_provider_id, new.lineage_id,
        new.version, new.previous_version_id, new.change_kind, new.created_at)
       is distinct from
       (old.id, old.org_id, old.patient_id, old.encounter_id, old.author_provider_id, old.lineage_id,
        old.version, old.previous_version_id, old.change_kind, old.created_at) then
        raise exception 'a clinical note''s patient, encounter, author and version cannot change'
            using errcode = 'check_violation', constraint = 'clinical_notes_identity_immutable',
                  table = 'clinical_notes';
    end if;

    if old.status = 'draft' then
        return new;
    end if;

    -- The one change a signed version accepts: being superseded by its next version.
    if old.status = 'signed' and old.is_current and not new.is_current
       and new.status in ('amended', 'addended')
       and (to_jsonb(new) - 'status' - 'is_current' - 'updated_at')
           = (to_jsonb(old) - 'status' - 'is_current' - 'updated_at') then
        return new;
    end if;

    raise exception 'clinical note % (version %) is %: a signed note cannot be changed; amend it or add an addendum',
            old.id, old.version, old.status
        using errcode = 'check_violation', constraint = 'clinical_notes_signed_immutable',
              table = 'clinical_notes';
end
$$;
create trigger clinical_notes_guard before update or delete on clinical_notes
    for each row execute function app.guard_clinical_note();

-- Marks version n of a note amended or addended. SECURITY DEFINER because RLS forbids every
-- role to update a signed note; what it may do is bounded by app.guard_clinical_note (only
-- this flip) and by clinical_notes_lineage_check (only with the new version in the same
-- transaction). Called by app.link_note_version only.
create function app.supersede_note_version(p_org_id uuid, p_note_id uuid, p_kind note_change_kind)
returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
    -- Another organization's note is "not found" for a signed-in caller, whatever its id.
    if current_setting('role') = 'authenticated' and p_org_id is distinct from app.org_id() then
        raise exception 'note version % does not exist', p_note_id
            using errcode = 'foreign_key_violation', constraint = 'clinical_notes_previous_version_fkey',
                  table = 'clinical_notes';
    end if;
    update public.clinical_notes
       set is_current = false,
           status = case p_kind when 'addendum' then 'addended'::note_status else 'amended'::note_status end
     where org_id = p_org_id and id = p_note_id and status = 'signed' and is_current;
    -- Two amendments of one version race here: the second finds it already superseded.
    if not found then
        raise exception 'note version % is no longer the current signed version', p_note_id
            using errcode = 'check_violation', constraint = 'clinical_notes_amend_signed_only',
                  table = 'clinical_notes';
    end if;
end
$$;
revoke execute on function app.supersede_note_version(uuid, uuid, note_change_kind) from public;
grant execute on function app.supersede_note_version(uuid, uuid, note_change_kind) to authenticated, service_role;

-- Places a new note version in its lineage. Runs as the caller (not SECURITY DEFINER): the
-- previous version is looked up under the caller's own RLS, so another organization's note is
-- simply not found.
create function app.link_note_version() returns trigger
language plpgsql
as $$
declare
    prev public.clinical_notes;
begin
    if new.previous_version_id is null then
        new.lineage_id := new.id;
        new.version := 1;
        return new;
    end if;

    select * into prev from public.clinical_notes
     where org_id = new.org_id and id = new.previous_version_id;
    if not found then
        raise exception 'the note version to amend (%) does not exist', new.previous_version_id
            using errcode = 'foreign_key_violation', constraint = 'clinical_notes_previous_version_fkey',
                  table = 'clinical_notes', column = 'previous_version_id';
    end if;
    if prev.status <> 'signed' or not prev.is_current then
        raise exception 'only the current signed version of a note can be amended or addended (version % is %)',
                prev.version, prev.status
            using errcode = 'check_violation', constraint = 'clinical_notes_amend_signed_only',
                  table = 'clinical_notes', column = 'previous_version_id';
    end if;
    if new.author_provider_id is distinct from prev.author_provider_id then
        raise exception 'only the author of a note can amend it or add an addendum'
            using errcode = 'check_violation', constraint = 'clinical_notes_amend_author_only',
                  table = 'clinical_notes', column = 'author_provider_id';
    end if;
    if new.change_kind = 'addendum' and (new.format, new.content) is distinct from (prev.format, prev.content) then
        raise exception 'an addendum keeps the original content unchanged; put the added text in addendum_text'
            using errcode = 'check_violation', constraint = 'clinical_notes_addendum_keeps_content',
                  table = 'clinical_notes', column = 'content';
    end if;

    new.lineage_id := prev.lineage_id;
    new.version := prev.version + 1;
    perform app.supersede_note_version(prev.org_id, prev.id, new.change_kind);
    return new;
end
$$;
create trigger clinical_notes_link_version before insert on clinical_notes
    for each row execute function app.link_note_version();

------------------------------------------------------------------------------------------------
-- Signatures

create type signature_type as enum ('author', 'cosigner', 'supervisor');

create table note_signatures (
    id                  uuid not null default gen_random_uuid(),
    org_id              uuid not null references organizations (id),
    note_id             uuid not null,
    signer_provider_id  uuid not null,
    signature_type      signature_type not null,
    -- The note's content_hash at the moment of signing.
    content_hash        bytea not null check (octet_length(content_hash) = 32),
    -- Ed25519 over the hash, the signer, the signature type and signed_at; verifiable with the
    -- published public key named by signing_key_id.
    signature           bytea not null check (octet_length(signature) = 64),
    signing_key_id      text not null check (length(signing_key_id) between 1 and 100),
    signed_at           timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, note_id) references clinical_notes (org_id, id),
    foreign key (org_id, signer_provider_id) references providers (org_id, id),
    constraint note_signatures_once_key unique (org_id, note_id, signature_type, signer_provider_id)
);
comment on table note_signatures is 'Cryptographic proof that a note version was signed. Append-only.';

-- A signature is given to a signed version, over its hash, by the right person: the author
-- signs as author; the author's supervisor as supervisor; any other provider as cosigner.
create function app.check_note_signature() returns trigger
language plpgsql
as $$
declare
    note public.clinical_notes;
    supervisor uuid;
begin
    if tg_op <> 'INSERT' then
        raise exception 'note signatures are append-only'
            using errcode = 'check_violation', constraint = 'note_signatures_append_only',
                  table = 'note_signatures';
    end if;
    select * into note from public.clinical_notes where org_id = new.org_id and id = new.note_id;
    if not found then
        raise exception 'note % does not exist', new.note_id
            using errcode = 'foreign_key_violation', constraint = 'note_signatures_note_fkey',
                  table = 'note_signatures', column = 'note_id';
    end if;
    if note.status = 'draft' or new.content_hash is distinct from note.content_hash then
        raise exception 'a signature must be over the signed content of the note (its content_hash)'
            using errcode = 'check_violation', constraint = 'note_signatures_content_hash_check',
                  table = 'note_signatures', column = 'content_hash';
    end if;
    select p.supervisor_id into supervisor from public.providers p
     where p.org_id = note.org_id and p.id = note.author_provider_id;
    if (new.signature_type = 'author' and new.signer_provider_id is distinct from note.author_provider_id)
       or (new.signature_type = 'supervisor' and new.signer_provider_id is distinct from supervisor)
       or (new.signature_type = 'cosigner' and new.signer_provider_id = note.author_provider_id) then
        raise exception 'a % signature cannot be given by this provider', new.signature_type
            using errcode = 'check_violation', constraint = 'note_signatures_signer_check',
                  table = 'note_signatures', column = 'signer_provider_id';
    end if;
    return new;
end
$$;
create trigger note_signatures_check before insert or update or delete on note_signatures
    for each row execute function app.check_note_signature();

-- At commit: a version that left draft carries its author's signature, and a superseded
-- version has the new version that supersedes it, of the matching kind. SECURITY DEFINER only
-- to read what the check needs; it changes nothing.
create function app.check_note_lineage() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
    note public.clinical_notes;
begin
    select * into note from public.clinical_notes where org_id = new.org_id and id = new.id;
    if not found then
        return null;
    end if;
    if note.status <> 'draft' and not exists (
        select 1 from public.note_signatures s
         where s.org_id = note.org_id and s.note_id = note.id and s.signature_type = 'author') then
        raise exception 'note % version % is % without its author''s signature', note.id, note.version, note.status
            using errcode = 'check_violation', constraint = 'clinical_notes_author_signature_required',
                  table = 'clinical_notes';
    end if;
    if note.status in ('amended', 'addended') and not exists (
        select 1 from public.clinical_notes n
         where n.org_id = note.org_id and n.previous_version_id = note.id
           and n.change_kind = case note.status when 'amended' then 'amendment'::note_change_kind
                                                else 'addendum'::note_change_kind end) then
        raise exception 'note % version % is % but no new version supersedes it', note.id, note.version, note.status
            using errcode = 'check_violation', constraint = 'clinical_notes_superseded_needs_successor',
                  table = 'clinical_notes';
    end if;
    return null;
end
$$;
create constraint trigger clinical_notes_lineage_check after insert or update on clinical_notes
    deferrable initially deferred
    for each row execute function app.check_note_lineage();

------------------------------------------------------------------------------------------------
-- Treatment plans (versioned like notes: a revision is a new version)

create type treatment_plan_status as enum ('draft', 'signed', 'superseded');

-- Plan content: problems linked to diagnoses, each with measurable goals, objectives with
-- target dates, and interventions with their frequency:
--   {"problems": [{"icd10_code": "F41.1", "statement": "...",
--                  "goals": [{"goal": "...", "measure": "...",
--                             "objectives": [{"objective": "...", "target_date": "2027-01-15"}]}],
--                  "interventions": [{"intervention": "CBT", "frequency": "weekly"}]}]}
create function app.treatment_plan_content_is_valid(content jsonb) returns boolean
language sql immutable parallel safe
as $$
    select jsonb_typeof(content) = 'object'
       and jsonb_typeof(content -> 'problems') = 'array'
       and jsonb_array_length(content -> 'problems') >= 1
       and not exists (
           select 1 from jsonb_array_elements(content -> 'problems') p
            where jsonb_typeof(p) <> 'object'
               or jsonb_typeof(p -> 'statement') <> 'string'
               or jsonb_typeof(p -> 'goals') <> 'array'
               or jsonb_typeof(p -> 'interventions') <> 'array')
$$;
grant execute on function app.treatment_plan_content_is_valid(jsonb) to authenticated, service_role;

create table treatment_plans (
    id                  uuid not null default gen_random_uuid(),
    org_id              uuid not null references organizations (id),
    patient_id          uuid not null,
    provider_id         uuid not null,
    lineage_id          uuid not null,
    version             integer not null default 1 check (version >= 1),
    is_current          boolean not null default true,
    status              treatment_plan_status not null default 'draft',
    content             jsonb not null,
    effective_on        date not null default current_date,
    -- Plans are reviewed every 90 days unless the clinician sets another date.
    review_due_on       date not null default (current_date + 90),
    previous_version_id uuid,
    signed_at           timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, provider_id) references providers (org_id, id),
    foreign key (org_id, previous_version_id) references treatment_plans (org_id, id),
    constraint treatment_plans_content_check check (app.treatment_plan_content_is_valid(content)),
    constraint treatment_plans_lineage_version_check check (
        (version = 1) = (previous_version_id is null) and (version > 1 or lineage_id = id)),
    constraint treatment_plans_signed_check check ((status = 'draft') = (signed_at is null)),
    constraint treatment_plans_current_check check (is_current = (status <> 'superseded')),
    constraint treatment_plans_review_check check (review_due_on > effective_on),
    constraint treatment_plans_version_key unique (org_id, lineage_id, version),
    constraint treatment_plans_previous_version_key unique (org_id, previous_version_id)
);
comment on table treatment_plans is 'Goals, objectives and interventions; versioned, a signed plan is revised by a new version.';
create unique index treatment_plans_one_current on treatment_plans (org_id, lineage_id) where is_current;
create index treatment_plans_patient_idx on treatment_plans (org_id, patient_id) where is_current;
create index treatment_plans_review_idx on treatment_plans (org_id, review_due_on) where is_current and status = 'signed';
create trigger treatment_plans_touch before update on treatment_plans
    for each row execute function app.touch_updated_at();
create trigger treatment_plans_status_transition before update of status on treatment_plans
    for each row execute function app.enforce_status_transition('draft>signed', 'signed>superseded');

create function app.guard_treatment_plan() returns trigger
language plpgsql
as $$
begin
    if tg_op = 'DELETE' then
        if old.status = 'draft' and old.version = 1 then
            return old;
        end if;
        raise exception 'treatment plan % (version %) is part of the record and cannot be deleted', old.id, old.version
            using errcode = 'check_violation', constraint = 'treatment_plans_signed_immutable',
                  table = 'treatment_plans';
    end if;
    if (new.id, new.org_id, new.patient_id, new.lineage_id, new.version, new.previous_version_id, new.created_at)
       is distinct from
       (old.id, old.org_id, old.patient_id, old.lineage_id, old.version, old.previous_version_id, old.created_at) then
        raise exception 'a treatment plan''s patient and version cannot change'
            using errcode = 'check_violation', constraint = 'treatment_plans_identity_immutable',
                  table = 'treatment_plans';
    end if;
    if old.status = 'draft' then
        return new;
    end if;
    if old.status = 'signed' and new.status = 'superseded'
       and (to_jsonb(new) - 'status' - 'is_current' - 'updated_at')
           = (to_jsonb(old) - 'status' - 'is_current' - 'updated_at') then
        return new;
    end if;
    raise exception 'treatment plan % (version %) is signed: revise it with a new version', old.id, old.version
        using errcode = 'check_violation', constraint = 'treatment_plans_signed_immutable',
              table = 'treatment_plans';
end
$$;
create trigger treatment_plans_guard before update or delete on treatment_plans
    for each row execute function app.guard_treatment_plan();

-- Superseding a signed plan, bounded like app.supersede_note_version.
create function app.supersede_treatment_plan(p_org_id uuid, p_plan_id uuid) returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
    if current_setting('role') = 'authenticated' and p_org_id is distinct from app.org_id() then
        raise exception 'treatment plan % does not exist', p_plan_id
            using errcode = 'foreign_key_violation', constraint = 'treatment_plans_previous_version_fkey',
                  table = 'treatment_plans';
    end if;
    update public.treatment_plans set is_current = false, status = 'superseded'
     where org_id = p_org_id and id = p_plan_id and status = 'signed' and is_current;
    if not found then
        raise exception 'treatment plan % is no longer the current signed version', p_plan_id
            using errcode = 'check_violation', constraint = 'treatment_plans_revise_signed_only',
                  table = 'treatment_plans';
    end if;
end
$$;
revoke execute on function app.supersede_treatment_plan(uuid, uuid) from public;
grant execute on function app.supersede_treatment_plan(uuid, uuid) to authenticated, service_role;

create function app.link_treatment_plan_version() returns trigger
language plpgsql
as $$
declare
    prev public.treatment_plans;
begin
    if new.previous_version_id is null then
        new.lineage_id := new.id;
        new.version := 1;
        return new;
    end if;
    select * into prev from public.treatment_plans
     where org_id = new.org_id and id = new.previous_version_id;
    if not found then
        raise exception 'the treatment plan to revise (%) does not exist', new.previous_version_id
            using errcode = 'foreign_key_violation', constraint = 'treatment_plans_previous_version_fkey',
                  table = 'treatment_plans', column = 'previous_version_id';
    end if;
    if prev.status <> 'signed' or not prev.is_current or prev.patient_id <> new.patient_id then
        raise exception 'only the current signed plan of the same patient can be revised'
            using errcode = 'check_violation', constraint = 'treatment_plans_revise_signed_only',
                  table = 'treatment_plans', column = 'previous_version_id';
    end if;
    new.lineage_id := prev.lineage_id;
    new.version := prev.version + 1;
    perform app.supersede_treatment_plan(prev.org_id, prev.id);
    return new;
end
$$;
create trigger treatment_plans_link_version before insert on treatment_plans
    for each row execute function app.link_treatment_plan_version();

create function app.check_treatment_plan_lineage() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
    if exists (select 1 from public.treatment_plans p
                where p.org_id = new.org_id and p.id = new.id and p.status = 'superseded')
       and not exists (select 1 from public.treatment_plans n
                        where n.org_id = new.org_id and n.previous_version_id = new.id) then
        raise exception 'treatment plan % is superseded but no new version replaces it', new.id
            using errcode = 'check_violation', constraint = 'treatment_plans_superseded_needs_successor',
                  table = 'treatment_plans';
    end if;
    return null;
end
$$;
create constraint trigger treatment_plans_lineage_check after update on treatment_plans
    deferrable initially deferred
    for each row execute function app.check_treatment_plan_lineage();

------------------------------------------------------------------------------------------------
-- Medications

create type medication_status as enum ('active', 'discontinued', 'changed');

create table medications (
    id                     uuid not null default gen_random_uuid(),
    org_id                 uuid not null references organizations (id),
    patient_id             uuid not null,
    prescriber_provider_id uuid,
    name                   text not null check (length(btrim(name)) between 1 and 200),
    dose                   text,
    route                  text,
    frequency              text,
    instructions           text,
    status                 medication_status not null default 'active',
    started_on             date not null default current_date,
    ended_on               date,
    -- Why it was changed or discontinued.
    change_reason          text,
    -- A dose or frequency change is a new row linked to the one it replaces (kept as history).
    previous_medication_id uuid,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, prescriber_provider_id) references providers (org_id, id),
    foreign key (org_id, previous_medication_id) references medications (org_id, id),
    constraint medications_previous_key unique (org_id, previous_medication_id),
    constraint medications_end_check check (
        (status = 'active') = (ended_on is null)
        and (status = 'active' or length(btrim(change_reason)) > 0)
        and (ended_on is null or ended_on >= started_on))
);
comment on table medications is 'A patient''s medication list; changes keep the old row as history.';
create index medications_patient_idx on medications (org_id, patient_id) where status = 'active';
create trigger medications_touch before update on medications
    for each row execute function app.touch_updated_at();
create trigger medications_status_transition before update of status on medications
    for each row execute function app.enforce_status_transition('active>discontinued', 'active>changed');
