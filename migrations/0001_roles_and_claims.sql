-- 0001 Roles, extensions and the caller's identity.
--
-- Indra's database is its security boundary. The application never decides who may see a row:
-- it only says who is asking, by switching to one of the Supabase-compatible API roles and
-- setting the caller's JWT claims for the transaction. Every policy in 0008 reads the caller
-- through the helper functions defined here.
--
-- The same migrations run on plain PostgreSQL 15+ and on a Supabase project, so everything
-- Supabase already provides (the roles, the `auth` schema and its functions) is created only
-- when it is absent.

create extension if not exists pg_trgm;     -- typo-tolerant patient name search
create extension if not exists btree_gist;  -- no provider double-booked (exclusion constraint)
create extension if not exists btree_gin;   -- org_id leading in trigram GIN indexes
create extension if not exists citext;      -- case-insensitive e-mail addresses

-- The API roles. anon: not signed in; authenticated: a signed-in user of one organization;
-- service_role: server-side work that must cross organizations (sign-in, the demo loader,
-- background jobs), which bypasses RLS. Roles are cluster-wide, so several databases (one per
-- test) may race to create them: a duplicate is not an error.
do $$
declare
    r record;
begin
    for r in select * from (values
        ('anon', 'nologin noinherit'),
        ('authenticated', 'nologin noinherit'),
        ('service_role', 'nologin noinherit bypassrls'),
        -- The application's own login role: it owns nothing and reads nothing by itself,
        -- but may switch to the API roles (set local role) for each transaction.
        ('indra_app', 'login noinherit')
    ) as t(name, options)
    loop
        if not exists (select 1 from pg_roles where rolname = r.name) then
            begin
                execute format('create role %I %s', r.name, r.options);
            exception when duplicate_object or unique_violation then
                null; -- created meanwhile by a concurrent migration of another database
            end;
        end if;
    end loop;
end
$$;

do $$
begin
    grant anon, authenticated, service_role to indra_app;
exception when others then
    -- On Supabase the migrating role may not administer these roles; `authenticator` is
    -- already their member there.
    raise notice 'could not grant the API roles to indra_app: %', sqlerrm;
end
$$;

-- Nothing is granted to the API roles by default: each table grants exactly what its
-- policies mean (0008). Functions are executable by everyone unless revoked, so new functions
-- in `public` are revoked from public and granted where they are meant to be called.
revoke create on schema public from public;
grant usage on schema public to anon, authenticated, service_role;
alter default privileges revoke execute on functions from public;
-- Supabase grants every new table in `public` to anon and authenticated by default; here a new
-- table grants nothing until a migration says who may do what (0009).
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;

-- Supabase's `auth` schema holds auth.uid() and auth.jwt(); on plain PostgreSQL they are
-- created here with the same meaning, so policies read the same on both.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

do $$
begin
    if not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                   where n.nspname = 'auth' and p.proname = 'jwt') then
        execute $f$
            create function auth.jwt() returns jsonb
            language sql stable
            as $body$
                select coalesce(
                    nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')
                )::jsonb
            $body$;
            grant execute on function auth.jwt() to anon, authenticated, service_role;
        $f$;
    end if;
    if not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                   where n.nspname = 'auth' and p.proname = 'uid') then
        execute $f$
            create function auth.uid() returns uuid
            language sql stable
            as $body$
                select nullif(
                    coalesce(
                        current_setting('request.jwt.claim.sub', true),
                        nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
                    ), ''
                )::uuid
            $body$;
            grant execute on function auth.uid() to anon, authenticated, service_role;
        $f$;
    end if;
end
$$;

-- Indra's own helpers live in schema `app`. Policies call them as `(select app.org_id())` so
-- that PostgreSQL evaluates them once per statement (an InitPlan), not once per row.
create schema app;
grant usage on schema app to anon, authenticated, service_role;

-- The caller's claims, as set by the server for the transaction:
--   {"sub": <users.auth_id>, "role": "authenticated", "org_id": <uuid>,
--    "user_role": "admin" | "provider" | "billing" | "staff"}
create function app.claims() returns jsonb
language sql stable
as $$ select coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb) $$;

-- The caller's organization, or NULL (which matches no row) when no claims are set.
create function app.org_id() returns uuid
language sql stable
as $$ select nullif(app.claims() ->> 'org_id', '')::uuid $$;

-- The caller's role inside the organization: admin, provider, billing or staff.
create function app.user_role() returns text
language sql stable
as $$ select nullif(app.claims() ->> 'user_role', '') $$;

-- The request id the server sets for the transaction, recorded in the audit log.
create function app.request_id() returns text
language sql stable
as $$ select nullif(current_setting('request.id', true), '') $$;

comment on function app.org_id() is
    'The organization of the caller, from the transaction-local JWT claims. NULL without claims: matches nothing.';
comment on function app.user_role() is
    'The caller''s role in the organization (admin, provider, billing, staff), from the JWT claims.';

grant execute on function app.claims(), app.org_id(), app.user_role(), app.request_id()
    to anon, authenticated, service_role;

-- The National Provider Identifier check digit: Luhn over the 80840 prefix and the first nine
-- digits (CMS, "Requirements for NPI check digit"). 1234567893 is valid.
create function app.npi_is_valid(npi text) returns boolean
language plpgsql immutable strict parallel safe
as $$
declare
    digits text := '80840' || npi;
    total int := 0;
    d int;
    i int;
begin
    if npi !~ '^[0-9]{10}$' then
        return false;
    end if;
    -- Walk right to left; every second digit (from the rightmost, which is the check digit)
    -- is doubled and its digits summed.
    for i in 0 .. length(digits) - 1 loop
        d := substr(digits, length(digits) - i, 1)::int;
        if i % 2 = 1 then
            d := d * 2;
            if d > 9 then d := d - 9; end if;
        end if;
        total := total + d;
    end loop;
    return total % 10 = 0;
end
$$;
grant execute on function app.npi_is_valid(text) to authenticated, service_role;

-- True when `tz` names a time zone of the server's tz database (e.g. America/Chicago).
create function app.is_time_zone(tz text) returns boolean
language plpgsql stable strict
as $$
begin
    perform now() at time zone tz;
    return true;
exception when invalid_parameter_value then
    return false;
end
$$;
grant execute on function app.is_time_zone(text) to authenticated, service_role;

-- updated_at maintained by the database, not by each caller.
create function app.touch_updated_at() returns trigger
language plpgsql
as $$
begin
    new.updated_at := now();
    return new;
end
$$;
