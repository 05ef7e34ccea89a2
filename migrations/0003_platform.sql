-- 0003 Platform: organizations (the tenants), their users and their clinicians.
--
-- Every tenant-owned table carries `org_id` and a primary key that begins with it, and every
-- foreign key between tenant tables carries org_id too, so a row can never point into another
-- organization and the schema can be distributed by org_id (Citus) without change.

create table organizations (
    id            uuid primary key default gen_random_uuid(),
    name          text not null check (length(btrim(name)) between 1 and 200),
    -- Appointments, recurrence and "today" are computed in this IANA zone.
    time_zone     text not null default 'America/New_York' check (app.is_time_zone(time_zone)),
    -- The billing provider of the 837P / CMS-1500 box 33.
    tax_id        text check (tax_id ~ '^[0-9]{2}-?[0-9]{7}$'),
    billing_npi   text check (app.npi_is_valid(billing_npi)),
    address_line1 text,
    address_line2 text,
    city          text,
    state         text check (state ~ '^[A-Z]{2}$'),
    postal_code   text check (postal_code ~ '^[0-9]{5}(-?[0-9]{4})?$'),
    phone         text,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
comment on table organizations is 'A practice: the tenant boundary. No organization sees another''s rows.';
create trigger organizations_touch before update on organizations
    for each row execute function app.touch_updated_at();

create type user_role as enum ('admin', 'provider', 'billing', 'staff');

create table users (
    id             uuid not null default gen_random_uuid(),
    org_id         uuid not null references organizations (id),
    -- The sign-in identity: Supabase Auth's auth.users.id, or Indra's own sign-in (indra_auth).
    -- One identity is one user of one organization, across the deployment.
    auth_id        uuid not null default gen_random_uuid(),
    -- One account per e-mail address across the deployment, compared without case, because
    -- signing in by e-mail must find exactly one user.
    email          citext not null check (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    full_name      text not null check (length(btrim(full_name)) between 1 and 200),
    role           user_role not null,
    is_active      boolean not null default true,
    deactivated_at timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    primary key (org_id, id),
    constraint users_auth_id_key unique (auth_id),
    constraint users_email_key unique (email),
    constraint users_deactivated_at_check check (is_active = (deactivated_at is null))
);
comment on table users is 'A person who signs in, with one role in one organization. Deactivated, never deleted.';
comment on constraint users_email_key on users is
    'Deployment-wide on purpose (sign-in by e-mail). On Citus it moves to the identity table.';
create trigger users_touch before update on users
    for each row execute function app.touch_updated_at();

create type note_format as enum ('SOAP', 'DAP', 'BIRP');

create table providers (
    id                    uuid not null default gen_random_uuid(),
    org_id                uuid not null references organizations (id),
    -- The user who signs in as this clinician.
    user_id               uuid not null,
    first_name            text not null check (length(btrim(first_name)) between 1 and 100),
    last_name             text not null check (length(btrim(last_name)) between 1 and 100),
    credentials           text not null check (length(btrim(credentials)) between 1 and 40), -- LCSW, LPC-A, PsyD, MD, PMHNP
    npi                   text not null constraint providers_npi_check check (app.npi_is_valid(npi)),
    license_number        text,
    license_state         text check (license_state ~ '^[A-Z]{2}$'),
    taxonomy_code         text check (taxonomy_code ~ '^[0-9]{3}[0-9A-Z]{6}X$'),
    preferred_note_format note_format not null default 'SOAP',
    -- Pre-licensed clinicians practise under a supervisor, who cosigns their notes.
    requires_supervision  boolean not null default false,
    supervisor_id         uuid,
    is_active             boolean not null default true,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    primary key (org_id, id),
    constraint providers_user_key unique (org_id, user_id),
    constraint providers_npi_key unique (org_id, npi),
    foreign key (org_id, user_id) references users (org_id, id),
    foreign key (org_id, supervisor_id) references providers (org_id, id),
    constraint providers_supervisor_check check (supervisor_id is distinct from id),
    constraint providers_supervision_check check (not requires_supervision or supervisor_id is not null)
);
comment on table providers is 'A clinician''s identity for the record and for billing (NPI, credentials, license).';
comment on column providers.npi is 'Type 1 NPI: 10 digits, Luhn check digit over the 80840 prefix.';
create trigger providers_touch before update on providers
    for each row execute function app.touch_updated_at();

-- The caller as a user and as a provider. SECURITY DEFINER so that policies on `users` and
-- `providers` can use them without recursing into their own policies; each reads only the
-- caller's own row of the caller's own organization.
create function app.user_id() returns uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select u.id from public.users u
    where u.org_id = app.org_id() and u.auth_id = auth.uid() and u.is_active
$$;

create function app.provider_id() returns uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select p.id from public.providers p
    where p.org_id = app.org_id() and p.user_id = app.user_id()
$$;
comment on function app.provider_id() is 'The provider record of the signed-in clinician, or NULL.';
grant execute on function app.user_id(), app.provider_id() to authenticated, service_role;

-- Indra's built-in sign-in keeps its secrets apart from the seed's tables, in a schema that no
-- API role can reach: only the application's login role (indra_app) and the owner read it.
create schema indra_auth;
revoke all on schema indra_auth from public;
grant usage on schema indra_auth to indra_app;

create table indra_auth.password_credentials (
    auth_id             uuid primary key references public.users (auth_id) on delete cascade,
    password_hash       text not null check (password_hash like '$argon2id$%'),
    password_changed_at timestamptz not null default now()
);
comment on table indra_auth.password_credentials is 'argon2id password hashes, one per sign-in identity.';
grant select, insert, update, delete on all tables in schema indra_auth to indra_app;
