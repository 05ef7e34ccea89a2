-- 0011 What the server needs to sign people in and to run each request as its caller.
--
-- The token a request carries proves only who the person is (its `sub`, users.auth_id). Their
-- organization, role and whether they are still active are read from `users` at the start of
-- every request (app.begin_request), so a role change or a deactivation takes effect at once,
-- and a Supabase Auth token (which knows nothing of Indra's organizations) works the same way.

-- The identity behind a token: SECURITY DEFINER because the caller is not known yet (no RLS
-- context); executable only by the application's login role, never by an API role.
create function app.identify(p_auth_id uuid)
returns table (user_id uuid, org_id uuid, user_role text)
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select u.id, u.org_id, u.role::text from public.users u where u.auth_id = p_auth_id and u.is_active
$$;
revoke execute on function app.identify(uuid) from public;
grant execute on function app.identify(uuid) to indra_app;

-- The login role reaches the helper functions (it does not inherit the API roles' grants).
grant usage on schema app to indra_app;

-- The account an e-mail address signs in to, with its password hash: for the sign-in door only.
-- SECURITY DEFINER so the login role needs no grant on `users` (whose policies serve the API
-- roles) and reads exactly this, across organizations, because nobody is signed in yet.
create function app.account_for_sign_in(p_email text)
returns table (auth_id uuid, org_id uuid, user_role text, password_hash text)
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select u.auth_id, u.org_id, u.role::text, c.password_hash
      from public.users u join indra_auth.password_credentials c on c.auth_id = u.auth_id
     where u.email = p_email::citext and u.is_active
$$;
revoke execute on function app.account_for_sign_in(text) from public;
grant execute on function app.account_for_sign_in(text) to indra_app;

-- The schema version the database is at, for the readiness probe of a server logged in as
-- indra_app (which may not read the migrations' bookkeeping table itself).
create function app.schema_version() returns bigint
language sql stable security definer
set search_path = pg_catalog, public
as $$ select max(version) from public._sqlx_migrations where success $$;
revoke execute on function app.schema_version() from public;
grant execute on function app.schema_version() to indra_app;

-- Opens a request as its caller, in one round trip: the caller's claims (from the database,
-- not from the token), the request id for the audit log, the statement timeout, then the
-- switch to `authenticated`. Returns no row, and switches nothing, for an unknown or
-- deactivated identity. Not SECURITY DEFINER: a role switch is not allowed there, and the
-- switch must outlive the call (it lasts until the transaction ends).
create function app.begin_request(p_auth_id uuid, p_request_id text, p_statement_timeout text)
returns table (user_id uuid, org_id uuid, user_role text)
language plpgsql
as $$
declare
    who record;
begin
    select * into who from app.identify(p_auth_id);
    if not found then
        return;
    end if;
    perform set_config('request.jwt.claims',
                       json_build_object('sub', p_auth_id, 'role', 'authenticated',
                                         'org_id', who.org_id, 'user_role', who.user_role)::text,
                       true),
            set_config('request.id', coalesce(p_request_id, ''), true),
            set_config('statement_timeout', p_statement_timeout, true),
            set_config('role', 'authenticated', true);
    return query select who.user_id, who.org_id, who.user_role;
end
$$;
revoke execute on function app.begin_request(uuid, text, text) from public;
grant execute on function app.begin_request(uuid, text, text) to indra_app;

-- Refresh tokens rotate: each use spends the token and issues the next one of the same family.
-- Presenting a spent token again means it was stolen (or replayed): the whole family is
-- revoked. Only hashes are stored.
create table indra_auth.refresh_tokens (
    id          uuid primary key default gen_random_uuid(),
    family_id   uuid not null,
    auth_id     uuid not null references public.users (auth_id) on delete cascade,
    token_hash  bytea not null unique check (octet_length(token_hash) = 32),
    issued_at   timestamptz not null default now(),
    expires_at  timestamptz not null,
    spent_at    timestamptz,
    revoked_at  timestamptz
);
create index refresh_tokens_family_idx on indra_auth.refresh_tokens (family_id);

-- Failed sign-ins, counted per account and per address in a sliding window; the same answer
-- and the same work (an argon2 verification) whether the account exists or not.
create table indra_auth.sign_in_failures (
    key              text primary key,          -- 'account:<email>' or 'address:<ip>'
    failures         integer not null default 0,
    window_started   timestamptz not null default now(),
    locked_until     timestamptz
);

-- Browser sessions of the web application: an opaque cookie names one; its CSRF token guards
-- every form. Only hashes are stored.
create table indra_auth.web_sessions (
    id_hash      bytea primary key check (octet_length(id_hash) = 32),
    auth_id      uuid not null references public.users (auth_id) on delete cascade,
    csrf_token   text not null,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    revoked_at   timestamptz
);

grant select, insert, update, delete on all tables in schema indra_auth to indra_app;

-- Idempotent creation: a POST with an Idempotency-Key is answered once; a retry with the same
-- key and body gets the first answer again, a retry with another body is refused.
create table idempotency_keys (
    org_id        uuid not null references organizations (id),
    user_id       uuid not null,
    key           text not null check (length(key) between 1 and 200),
    request_hash  bytea not null check (octet_length(request_hash) = 32),
    status_code   integer,
    response_body jsonb,
    created_at    timestamptz not null default now(),
    primary key (org_id, user_id, key),
    foreign key (org_id, user_id) references users (org_id, id)
);
comment on table idempotency_keys is 'Answers to POSTs sent with an Idempotency-Key, per user, kept 24 hours.';
alter table idempotency_keys enable row level security;
revoke all on idempotency_keys from public, anon, authenticated, service_role;
grant select, insert, update on idempotency_keys to authenticated;
grant select, insert, update, delete on idempotency_keys to service_role;
create policy idempotency_keys_select on idempotency_keys for select to authenticated
    using (org_id = (select app.org_id()) and user_id = (select app.user_id()));
create policy idempotency_keys_insert on idempotency_keys for insert to authenticated
    with check (org_id = (select app.org_id()) and user_id = (select app.user_id()));
create policy idempotency_keys_update on idempotency_keys for update to authenticated
    using (org_id = (select app.org_id()) and user_id = (select app.user_id()))
    with check (org_id = (select app.org_id()) and user_id = (select app.user_id()));
comment on policy idempotency_keys_select on idempotency_keys is 'Each user sees only the answers to their own requests.';
create trigger idempotency_keys_audit after insert or update or delete on idempotency_keys
    for each row execute function app.audit_row('none');

-- Setting a password: by the user themself, or by an admin of the user's organization (a new
-- user's first password). SECURITY DEFINER because no API role may touch indra_auth; the
-- checks below are the whole of what it allows.
create function app.set_password(p_auth_id uuid, p_password_hash text) returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
    target public.users;
begin
    select * into target from public.users where auth_id = p_auth_id;
    if not found or target.org_id is distinct from app.org_id()
       or not (app.caller_is('admin') or target.id = app.user_id()) then
        raise exception 'user not found'
            using errcode = 'no_data_found';
    end if;
    if p_password_hash not like '$argon2id$%' then
        raise exception 'only argon2id password hashes are stored'
            using errcode = 'check_violation', constraint = 'password_credentials_password_hash_check';
    end if;
    insert into indra_auth.password_credentials (auth_id, password_hash, password_changed_at)
    values (p_auth_id, p_password_hash, now())
    on conflict (auth_id) do update set password_hash = excluded.password_hash, password_changed_at = now();
end
$$;
revoke execute on function app.set_password(uuid, text) from public;
grant execute on function app.set_password(uuid, text) to authenticated;

-- The audit page shows admins whether their organization's chain verifies: they may read its
-- head (the last sequence number and hash), nothing else of the table.
grant select on audit_chain_heads to authenticated;
create policy audit_chain_heads_select on audit_chain_heads for select to authenticated
    using (org_id = (select app.org_id()) and (select app.caller_is('admin')));
comment on policy audit_chain_heads_select on audit_chain_heads is 'Admins verify their own organization''s audit chain.';

-- A practice never loses its last active admin: nobody would be left to manage its users.
-- SECURITY DEFINER to lock the organization row (serializing two admins demoting each other)
-- and to see every admin whatever the caller may read.
create function app.keep_an_active_admin() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
    if old.role = 'admin' and old.is_active and not (new.role = 'admin' and new.is_active) then
        perform 1 from public.organizations where id = old.org_id for update;
        if not exists (select 1 from public.users
                        where org_id = old.org_id and role = 'admin' and is_active and id <> old.id) then
            raise exception 'the practice needs at least one active admin; make someone else admin first'
                using errcode = 'check_violation', constraint = 'users_last_admin',
                      table = 'users', column = 'role';
        end if;
    end if;
    return new;
end
$$;
create trigger users_keep_an_active_admin before update of role, is_active on users
    for each row execute function app.keep_an_active_admin();
