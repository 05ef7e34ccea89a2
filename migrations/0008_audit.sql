-- 0008 The audit log: every INSERT, UPDATE and DELETE on every table but the audit log itself
-- and the reference code sets, written by one trigger function, append-only, and
-- tamper-evident.
--
-- Tamper evidence: each organization's audit rows form a hash chain. Row n stores
--   row_hash = SHA-256(prev_hash || payload(row n)),  prev_hash = row_hash of row n-1
-- (32 zero bytes for the first row), where the payload encodes the row's fields as
-- `<byte length>:<value>|` (`~|` for NULL) in a fixed order (app.audit_payload). Editing,
-- removing or reordering a row breaks the chain from that row on; `indra audit verify`
-- recomputes every chain independently, in Rust, and names the first broken row.
--
-- Concurrency: a writer locks its organization's chain head (audit_chain_heads) until it
-- commits, so rows of one organization are numbered and chained in commit order; writers of
-- different organizations never wait for each other.

create table audit_log (
    id             uuid not null default gen_random_uuid(),
    org_id         uuid not null,
    -- Position in the organization's chain: 1, 2, 3, ... with no gaps.
    seq            bigint not null check (seq >= 1),
    table_name     text not null,
    record_id      uuid,
    action         text not null check (action in ('INSERT', 'UPDATE', 'DELETE')),
    old_data       jsonb,
    new_data       jsonb,
    -- For UPDATE, only the columns whose values changed.
    changed_fields text[],
    -- The patient the row is about, derived for every patient-linked table.
    patient_id     uuid,
    -- Who acted: the signed-in user from the JWT claims, and the database role
    -- (authenticated, service_role, or the owner for migrations and maintenance).
    actor_user_id  uuid,
    actor_role     text,
    request_id     text,
    occurred_at    timestamptz not null,
    prev_hash      bytea not null check (octet_length(prev_hash) = 32),
    row_hash       bytea not null check (octet_length(row_hash) = 32),
    primary key (org_id, id),
    constraint audit_log_seq_key unique (org_id, seq)
);
comment on table audit_log is
    'Append-only record of every change, hash-chained per organization. UPDATE, DELETE, TRUNCATE are refused for every role.';
create index audit_log_patient_idx on audit_log (org_id, patient_id, seq) where patient_id is not null;
create index audit_log_record_idx on audit_log (org_id, table_name, record_id);
create index audit_log_actor_idx on audit_log (org_id, actor_user_id, seq);

create table audit_chain_heads (
    org_id    uuid primary key,
    last_seq  bigint not null check (last_seq >= 0),
    last_hash bytea not null check (octet_length(last_hash) = 32)
);
comment on table audit_chain_heads is
    'The last row of each organization''s audit chain: the lock writers take, and the anchor verify checks the tail against.';

-- One field of the hashed payload. Rust's indra_rules::audit::chain::payload encodes the same way.
create function app.audit_field(v text) returns text
language sql immutable parallel safe
as $$ select coalesce(octet_length(v)::text || ':' || v, '~') || '|' $$;

create function app.audit_payload(
    org_id uuid, seq bigint, table_name text, record_id uuid, action text, old_data jsonb, new_data jsonb,
    changed_fields text[], patient_id uuid, actor_user_id uuid, actor_role text, request_id text,
    occurred_at timestamptz
) returns text
language sql immutable parallel safe
as $$
    select app.audit_field(org_id::text) || app.audit_field(seq::text) || app.audit_field(table_name)
        || app.audit_field(record_id::text) || app.audit_field(action)
        || app.audit_field(old_data::text) || app.audit_field(new_data::text)
        || app.audit_field(changed_fields::text) || app.audit_field(patient_id::text)
        || app.audit_field(actor_user_id::text) || app.audit_field(actor_role)
        || app.audit_field(request_id)
        || app.audit_field(((extract(epoch from occurred_at) * 1000000)::bigint)::text)
$$;

-- The trigger function of every audited table. Its argument says how to find the patient:
--   'self'    the row is a patient;
--   'column'  the row has a patient_id column;
--   'claim'   through claim_id (claim lines and diagnoses);
--   'note'    through note_id (signatures);
--   'run'     through run_id (AI steps, actions, clarifications);
--   'none'    not patient-linked.
-- SECURITY DEFINER: no API role may write audit_log directly; only this function does.
create function app.audit_row() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
    old_row    jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
    new_row    jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
    the_row    jsonb := coalesce(new_row, old_row);
    row_org    uuid;
    row_id     uuid := (the_row ->> 'id')::uuid;
    changed    text[];
    patient    uuid;
    actor      uuid;
    db_role    text;
    request    text := app.request_id();
    at         timestamptz;
    chain_seq  bigint;
    chain_prev bytea;
    chain_hash bytea;
begin
    row_org := case when tg_table_name = 'organizations' then row_id else (the_row ->> 'org_id')::uuid end;

    if tg_op = 'UPDATE' then
        select coalesce(array_agg(n.key order by n.key), '{}') into changed
          from jsonb_each(new_row) n
         where n.value is distinct from old_row -> n.key;
    end if;

    patient := case tg_argv[0]
        when 'self' then row_id
        when 'column' then (the_row ->> 'patient_id')::uuid
        when 'claim' then (select c.patient_id from public.billing_claims c
                            where c.org_id = row_org and c.id = (the_row ->> 'claim_id')::uuid)
        when 'note' then (select n.patient_id from public.clinical_notes n
                           where n.org_id = row_org and n.id = (the_row ->> 'note_id')::uuid)
        when 'run' then (select r.patient_id from public.ai_runs r
                          where r.org_id = row_org and r.id = (the_row ->> 'run_id')::uuid)
    end;

    -- The acting database role: SET ROLE's role survives into this SECURITY DEFINER function
    -- as the `role` setting; without one, the session's login role acted.
    db_role := nullif(current_setting('role'), 'none');
    db_role := coalesce(db_role, session_user);
    actor := app.user_id();

    -- Take this organization's chain head (creating it on the first row), hold it to commit.
    select h.last_seq, h.last_hash into chain_seq, chain_prev
      from public.audit_chain_heads h where h.org_id = row_org for update;
    if not found then
        insert into public.audit_chain_heads (org_id, last_seq, last_hash)
        values (row_org, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
        on conflict (org_id) do nothing;
        select h.last_seq, h.last_hash into chain_seq, chain_prev
          from public.audit_chain_heads h where h.org_id = row_org for update;
    end if;
    chain_seq := chain_seq + 1;
    -- Read the clock after the lock, so time never runs backwards along a chain.
    at := clock_timestamp();
    chain_hash := sha256(chain_prev || convert_to(app.audit_payload(
        row_org, chain_seq, tg_table_name, row_id, tg_op, old_row, new_row, changed, patient,
        actor, db_role, request, at), 'UTF8'));

    insert into public.audit_log (org_id, seq, table_name, record_id, action, old_data, new_data,
                                  changed_fields, patient_id, actor_user_id, actor_role, request_id,
                                  occurred_at, prev_hash, row_hash)
    values (row_org, chain_seq, tg_table_name, row_id, tg_op, old_row, new_row,
            changed, patient, actor, db_role, request, at, chain_prev, chain_hash);
    update public.audit_chain_heads set last_seq = chain_seq, last_hash = chain_hash where org_id = row_org;
    return null;
end
$$;

-- Append-only, for every role including the owner: triggers refuse what revoked privileges
-- would not stop (the owner and superusers hold every privilege).
create function app.refuse_audit_change() returns trigger
language plpgsql
as $$
begin
    raise exception '% is append-only: % is not allowed', tg_table_name, tg_op
        using errcode = 'check_violation', constraint = tg_table_name || '_append_only',
              table = tg_table_name;
end
$$;
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function app.refuse_audit_change();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function app.refuse_audit_change();
-- The heads move forward only (by app.audit_row); they are never removed.
create trigger audit_chain_heads_no_delete before delete on audit_chain_heads
    for each row execute function app.refuse_audit_change();
create trigger audit_chain_heads_no_truncate before truncate on audit_chain_heads
    for each statement execute function app.refuse_audit_change();

create function app.audit_chain_heads_forward_only() returns trigger
language plpgsql
as $$
begin
    if new.org_id <> old.org_id or new.last_seq <> old.last_seq + 1 then
        raise exception 'audit chain heads only move forward one row at a time'
            using errcode = 'check_violation', constraint = 'audit_chain_heads_forward_only',
                  table = 'audit_chain_heads';
    end if;
    return new;
end
$$;
create trigger audit_chain_heads_forward_only before update on audit_chain_heads
    for each row execute function app.audit_chain_heads_forward_only();

-- Attach the trigger to every audited table, with its way to the patient.
do $$
declare
    t record;
begin
    for t in select * from (values
        ('organizations', 'none'), ('users', 'none'), ('providers', 'none'),
        ('patients', 'self'), ('patient_diagnoses', 'column'), ('appointments', 'column'),
        ('encounters', 'column'), ('clinical_notes', 'column'), ('note_signatures', 'note'),
        ('treatment_plans', 'column'), ('medications', 'column'),
        ('insurance_payers', 'none'), ('patient_insurance', 'column'),
        ('billing_claims', 'column'), ('claim_diagnoses', 'claim'), ('claim_line_items', 'claim'),
        ('ai_runs', 'column'), ('ai_steps', 'run'), ('ai_proposed_actions', 'run'),
        ('ai_clarifications', 'run'), ('note_drafts', 'column')
    ) as v(table_name, patient_link)
    loop
        execute format(
            'create trigger %I after insert or update or delete on public.%I '
            'for each row execute function app.audit_row(%L)',
            t.table_name || '_audit', t.table_name, t.patient_link);
    end loop;
end
$$;
