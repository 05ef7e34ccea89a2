-- 0013 The published note-signing keys.
--
-- A note signature (note_signatures, 0005) is Ed25519 over the note version's content hash, the
-- signer, the signature type and the time, made with the server's key and naming it by
-- signing_key_id. Anyone holding an export proves a note unaltered with the public key, so the
-- public keys are kept here for as long as the signatures they verify: a rotated key stays.
--
-- Keys belong to the deployment, not to an organization, and are public: they live in their
-- own schema (not `public`, whose every table is organization-scoped), readable by every API
-- role, written only through app.register_signing_key (the server at startup, as its login
-- role) or by the owner (the demo loader registers the demo key). A published key never
-- changes and is never removed: replacing one would let forged signatures verify.

create schema indra_keys;
revoke all on schema indra_keys from public;
grant usage on schema indra_keys to anon, authenticated, service_role, indra_app;

create table indra_keys.signing_keys (
    -- Derived from the public key (the first 16 hex digits of its SHA-256) for the server's
    -- keys; the demo's key is `indra-demo-key-1`.
    key_id         text primary key check (key_id ~ '^[A-Za-z0-9._-]{1,100}$'),
    algorithm      text not null default 'Ed25519' check (algorithm = 'Ed25519'),
    public_key     bytea not null check (octet_length(public_key) = 32),
    -- When the server registered the key, just before it signed with it for the first time.
    first_used_at  timestamptz not null default now(),
    constraint signing_keys_public_key_key unique (public_key)
);
comment on table indra_keys.signing_keys is
    'Public keys that note signatures name (signing_key_id). Public, append-only, deployment-wide.';

revoke all on indra_keys.signing_keys from public, anon, authenticated, service_role, indra_app;
grant select on indra_keys.signing_keys to anon, authenticated, service_role, indra_app;

-- Published keys are append-only for every role, the owner included.
create function indra_keys.refuse_change() returns trigger
language plpgsql
as $$
begin
    raise exception 'a published signing key cannot be changed or removed; register a new key instead'
        using errcode = 'check_violation', constraint = 'signing_keys_append_only',
              table = 'signing_keys';
end
$$;
create trigger signing_keys_append_only before update or delete on indra_keys.signing_keys
    for each row execute function indra_keys.refuse_change();
create trigger signing_keys_no_truncate before truncate on indra_keys.signing_keys
    for each statement execute function indra_keys.refuse_change();

-- Publishes a public key under its id, once. Registering the same key again changes nothing;
-- an id already published with another key is refused (a key id names one key forever).
-- SECURITY DEFINER so that the login role, which may write nothing, can publish the server's
-- own key at startup; executable by the login role only, never by an API role (a signed-in
-- user who could publish keys could make signatures of their own verify).
create function app.register_signing_key(p_key_id text, p_public_key bytea) returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
    insert into indra_keys.signing_keys (key_id, public_key) values (p_key_id, p_public_key)
        on conflict do nothing;
    if not exists (select 1 from indra_keys.signing_keys
                    where key_id = p_key_id and public_key = p_public_key) then
        raise exception 'signing key id % or its public key is already published with another key', p_key_id
            using errcode = 'unique_violation', constraint = 'signing_keys_public_key_key',
                  table = 'signing_keys';
    end if;
end
$$;
revoke execute on function app.register_signing_key(text, bytea) from public;
grant execute on function app.register_signing_key(text, bytea) to indra_app;
