-- 0019 The assistant at work: which model an organization uses (an admin's decision, external
-- models only when an admin allowed them), the queue's lease owner, what each run sent to its
-- model, reviewers' edits kept beside the original proposal, and monthly cost totals.

create table ai_settings (
    org_id             uuid not null references organizations (id),
    -- 'rules' is the embedded, offline model; the others send data out of the practice.
    model_kind         text not null default 'rules' check (model_kind in ('rules', 'openai', 'anthropic')),
    -- The provider's model name ("gpt-4o-mini", "claude-sonnet-4-5"); none for rules.
    model_name         text check (length(btrim(model_name)) between 1 and 200),
    -- An OpenAI-compatible endpoint (Azure, vLLM, Ollama ...); the provider's default when null.
    base_url           text check (base_url ~ '^https?://'),
    -- The NAME of the environment variable holding the key: the key itself is never stored.
    api_key_env        text check (api_key_env ~ '^[A-Z_][A-Z0-9_]{0,99}$'),
    -- An admin's explicit consent to send dictations and candidate patients to an external model.
    external_allowed   boolean not null default false,
    enabled_by_user_id uuid,
    enabled_at         timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    primary key (org_id),
    foreign key (org_id, enabled_by_user_id) references users (org_id, id),
    constraint ai_settings_external_check check (model_kind = 'rules' or (external_allowed and model_name is not null)),
    constraint ai_settings_enabled_check check (
        external_allowed = (enabled_by_user_id is not null) and external_allowed = (enabled_at is not null))
);
comment on table ai_settings is 'The assistant''s model per organization; external models only after an admin enabled them.';
comment on column ai_settings.api_key_env is 'The environment variable the server reads the key from; keys are never stored.';
create trigger ai_settings_touch before update on ai_settings
    for each row execute function app.touch_updated_at();
create trigger ai_settings_audit after insert or update or delete on ai_settings
    for each row execute function app.audit_row('none');

alter table ai_settings enable row level security;
revoke all on ai_settings from public, anon, authenticated, service_role;
grant select, insert, update on ai_settings to authenticated;
grant select, insert, update, delete on ai_settings to service_role;
create policy ai_settings_select on ai_settings for select to authenticated
    using (org_id = (select app.org_id()));
create policy ai_settings_insert on ai_settings for insert to authenticated
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin')));
create policy ai_settings_update on ai_settings for update to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin')))
    with check (org_id = (select app.org_id()) and (select app.caller_is('admin')));
comment on policy ai_settings_update on ai_settings is 'Only an admin chooses the model and allows external ones.';

-- The queue's lease: which worker holds the run until locked_until (attempts counts claims).
alter table ai_runs add column lease_owner text;
-- What the model saw: the context sent with the dictation (provider, zone, clock, the candidate
-- patients and only what of them the task needs), recorded whichever model it was.
alter table ai_runs add column model_context jsonb
    check (model_context is null or jsonb_typeof(model_context) = 'object');
comment on column ai_runs.model_context is 'The data the run sent to its model besides the dictation (ai_runs.model names the model).';
-- Claimable runs: new ones, and running ones whose lease ran out or that an answer re-queued.
drop index ai_runs_queue_idx;
create index ai_runs_queue_idx on ai_runs (created_at) where status in ('pending', 'running');

-- A reviewer's edit replaces what is committed, never what the assistant proposed.
alter table ai_proposed_actions add column edited_payload jsonb
    check (edited_payload is null or jsonb_typeof(edited_payload) = 'object');
alter table ai_proposed_actions add constraint ai_proposed_actions_edited_check
    check (status not in ('edited') or edited_payload is not null);

-- The option the clinician chose, when the question offered options (its id).
alter table ai_clarifications add column answer_option_id text;

-- Monthly cost totals of the caller's organization (admins), or of the caller's own runs
-- (anyone else), months in the organization's time zone. SECURITY DEFINER to sum runs the
-- caller may not read one by one (an admin does not read providers' dictations); it returns
-- sums only, and states the organization wall itself.
create function app.ai_monthly_costs()
returns table (month date, runs bigint, input_tokens bigint, output_tokens bigint, cost_usd numeric)
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select date_trunc('month', r.created_at at time zone o.time_zone)::date, count(*),
           sum(r.input_tokens)::bigint, sum(r.output_tokens)::bigint, sum(r.cost_usd)
      from public.ai_runs r join public.organizations o on o.id = r.org_id
     where r.org_id = (select app.org_id())
       and ((select app.user_role()) = 'admin' or r.requested_by_user_id = (select app.user_id()))
     group by 1
     order by 1
$$;
revoke execute on function app.ai_monthly_costs() from public;
grant execute on function app.ai_monthly_costs() to authenticated, service_role;
