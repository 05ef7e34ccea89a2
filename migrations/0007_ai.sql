-- 0007 The AI assistant: runs, their steps, what they propose, the questions they ask, and the
-- note drafts they write. Nothing here is the legal record: a proposed action only becomes a
-- clinical row through the commit service, as the reviewing provider, under RLS; a note draft
-- becomes a clinical_notes draft only when the provider accepts it.

create type ai_run_status as enum ('pending', 'running', 'needs_clarification', 'ready_to_commit',
                                   'committed', 'failed');
create type ai_intent_type as enum ('post_session', 'scheduling', 'medication_update', 'note_only', 'general');

create table ai_runs (
    id                   uuid not null default gen_random_uuid(),
    org_id               uuid not null references organizations (id),
    requested_by_user_id uuid not null,
    provider_id          uuid not null,
    -- The patient the run turned out to be about, once known.
    patient_id           uuid,
    input_text           text not null check (length(btrim(input_text)) between 1 and 20000),
    intent_type          ai_intent_type,
    status               ai_run_status not null default 'pending',
    -- Which model saw the input ('rules' is the embedded, offline one).
    model                text not null default 'rules',
    -- The run's "now": relative dates ("next Tuesday") resolve against it, in the org's zone.
    run_clock            timestamptz not null default now(),
    input_tokens         integer not null default 0 check (input_tokens >= 0),
    output_tokens        integer not null default 0 check (output_tokens >= 0),
    cost_usd             numeric(12, 6) not null default 0 check (cost_usd >= 0),
    error                text,
    -- The background queue: a worker leases a run until locked_until; a crashed worker's lease
    -- runs out and another picks the run up.
    attempts             integer not null default 0 check (attempts >= 0),
    locked_until         timestamptz,
    started_at           timestamptz,
    finished_at          timestamptz,
    committed_at         timestamptz,
    committed_by_user_id uuid,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, requested_by_user_id) references users (org_id, id),
    foreign key (org_id, provider_id) references providers (org_id, id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, committed_by_user_id) references users (org_id, id),
    constraint ai_runs_failed_check check ((status = 'failed') = (error is not null)),
    constraint ai_runs_committed_check check ((status = 'committed') = (committed_at is not null))
);
comment on table ai_runs is 'One execution of the assistant on a dictation, from request to commit.';
create index ai_runs_user_idx on ai_runs (org_id, requested_by_user_id, created_at desc);
create index ai_runs_queue_idx on ai_runs (created_at) where status in ('pending', 'running');
create trigger ai_runs_touch before update on ai_runs
    for each row execute function app.touch_updated_at();
create trigger ai_runs_status_transition before update of status on ai_runs
    for each row execute function app.enforce_status_transition(
        'pending>running', 'pending>failed',
        'running>needs_clarification', 'running>ready_to_commit', 'running>failed',
        'needs_clarification>running', 'needs_clarification>failed',
        'ready_to_commit>committed', 'ready_to_commit>failed');

create table ai_steps (
    id            uuid not null default gen_random_uuid(),
    org_id        uuid not null references organizations (id),
    run_id        uuid not null,
    step_number   integer not null check (step_number >= 1),
    kind          text not null check (kind in ('context', 'model', 'tool', 'clarification', 'finish')),
    tool_name     text,
    -- The full conversation up to and including this step, so a run resumes after a
    -- clarification (or a restart) from its last step alone.
    messages      jsonb not null check (jsonb_typeof(messages) = 'array'),
    input_tokens  integer not null default 0 check (input_tokens >= 0),
    output_tokens integer not null default 0 check (output_tokens >= 0),
    duration_ms   integer check (duration_ms >= 0),
    created_at    timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, run_id) references ai_runs (org_id, id),
    constraint ai_steps_step_key unique (org_id, run_id, step_number),
    constraint ai_steps_tool_check check ((kind = 'tool') = (tool_name is not null))
);
comment on table ai_steps is 'Each step of a run''s loop with its full messages, for resumption and review.';

create type ai_action_type as enum ('create_note_draft', 'create_encounter', 'suggest_billing',
                                    'update_medication', 'create_appointment');
create type ai_action_status as enum ('proposed', 'accepted', 'edited', 'rejected', 'committed');

create table ai_proposed_actions (
    id                   uuid not null default gen_random_uuid(),
    org_id               uuid not null references organizations (id),
    run_id               uuid not null,
    -- Actions that belong together (an encounter, its note draft and its billing) share a group.
    action_group         integer not null default 1 check (action_group >= 1),
    position             integer not null check (position >= 1),
    action_type          ai_action_type not null,
    payload              jsonb not null check (jsonb_typeof(payload) = 'object'),
    -- The spans of the input the action rests on: [{"start": 10, "end": 42}, ...] (characters).
    evidence             jsonb not null default '[]' check (jsonb_typeof(evidence) = 'array'),
    -- The action this one needs first (the encounter before its note draft and billing).
    depends_on_action_id uuid,
    status               ai_action_status not null default 'proposed',
    -- What committing it created.
    created_record_table text,
    created_record_id    uuid,
    reviewed_by_user_id  uuid,
    reviewed_at          timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, run_id) references ai_runs (org_id, id),
    foreign key (org_id, depends_on_action_id) references ai_proposed_actions (org_id, id),
    foreign key (org_id, reviewed_by_user_id) references users (org_id, id),
    constraint ai_proposed_actions_position_key unique (org_id, run_id, position),
    constraint ai_proposed_actions_committed_check check (
        (status = 'committed') = (created_record_id is not null)
        and (created_record_id is null) = (created_record_table is null))
);
comment on table ai_proposed_actions is 'What the assistant proposes; applied only by the commit service after review.';
create trigger ai_proposed_actions_touch before update on ai_proposed_actions
    for each row execute function app.touch_updated_at();
create trigger ai_proposed_actions_status_transition before update of status on ai_proposed_actions
    for each row execute function app.enforce_status_transition(
        'proposed>accepted', 'proposed>edited', 'proposed>rejected',
        'accepted>edited', 'accepted>rejected', 'edited>accepted', 'edited>rejected',
        'rejected>accepted', 'rejected>edited',
        'accepted>committed', 'edited>committed');

create table ai_clarifications (
    id                  uuid not null default gen_random_uuid(),
    org_id              uuid not null references organizations (id),
    run_id              uuid not null,
    step_id             uuid,
    question            text not null check (length(btrim(question)) between 1 and 2000),
    -- What made the assistant ask (e.g. the candidate patients), for the reviewer.
    context             jsonb not null default '{}' check (jsonb_typeof(context) = 'object'),
    -- The answers offered: [{"value": "...", "label": "..."}, ...].
    options             jsonb not null default '[]' check (jsonb_typeof(options) = 'array'),
    answer              text,
    answered_by_user_id uuid,
    answered_at         timestamptz,
    created_at          timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, run_id) references ai_runs (org_id, id),
    foreign key (org_id, step_id) references ai_steps (org_id, id),
    foreign key (org_id, answered_by_user_id) references users (org_id, id),
    constraint ai_clarifications_answer_check check (
        (answer is null) = (answered_at is null) and (answer is null) = (answered_by_user_id is null))
);
comment on table ai_clarifications is 'A question the assistant asked when the dictation was ambiguous, and its answer.';

create type note_draft_status as enum ('pending_review', 'accepted', 'rejected');

create table note_drafts (
    id                 uuid not null default gen_random_uuid(),
    org_id             uuid not null references organizations (id),
    ai_run_id          uuid not null,
    proposed_action_id uuid,
    patient_id         uuid not null,
    -- Set once the encounter exists (the draft may be proposed with the encounter it documents).
    encounter_id       uuid,
    provider_id        uuid not null,
    format             note_format not null,
    content            jsonb not null,
    -- Spans of the dictation each section rests on: {"subjective": [{"start":0,"end":40}], ...}.
    evidence           jsonb not null default '{}' check (jsonb_typeof(evidence) = 'object'),
    status             note_draft_status not null default 'pending_review',
    -- The clinical note (an unsigned draft) created when the provider accepted this draft.
    accepted_note_id   uuid,
    reviewed_at        timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, ai_run_id) references ai_runs (org_id, id),
    foreign key (org_id, proposed_action_id) references ai_proposed_actions (org_id, id),
    foreign key (org_id, patient_id) references patients (org_id, id),
    foreign key (org_id, encounter_id, patient_id) references encounters (org_id, id, patient_id),
    foreign key (org_id, provider_id) references providers (org_id, id),
    foreign key (org_id, accepted_note_id) references clinical_notes (org_id, id),
    constraint note_drafts_content_check check (app.note_content_matches_format(format, content)),
    constraint note_drafts_accepted_check check (
        (status = 'accepted') = (accepted_note_id is not null)
        and (status = 'pending_review') = (reviewed_at is null))
);
comment on table note_drafts is 'AI-written note drafts, kept apart from clinical_notes until a provider accepts one.';
create index note_drafts_provider_idx on note_drafts (org_id, provider_id) where status = 'pending_review';
create trigger note_drafts_touch before update on note_drafts
    for each row execute function app.touch_updated_at();
create trigger note_drafts_status_transition before update of status on note_drafts
    for each row execute function app.enforce_status_transition('pending_review>accepted', 'pending_review>rejected');
