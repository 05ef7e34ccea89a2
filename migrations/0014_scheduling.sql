-- 0014 Scheduling: each provider's iCalendar feed behind a revocable secret URL, and an
-- appointment completed by its encounter.

------------------------------------------------------------------------------------------------
-- The calendar feed.
--
-- A phone's calendar fetches `GET /calendar/<secret>.ics` without signing in, so the URL's
-- secret is the only credential: 32 random bytes, of which only the SHA-256 is stored. Creating
-- a new one replaces the old (the old URL stops working); revoking clears it.

alter table providers add column calendar_feed_secret_hash bytea
    constraint providers_calendar_feed_secret_hash_check check (octet_length(calendar_feed_secret_hash) = 32);
comment on column providers.calendar_feed_secret_hash is
    'SHA-256 of the secret in the provider''s iCalendar feed URL; NULL when the feed is off.';
-- Deployment-wide on purpose: the feed's request names no organization, only the secret.
create unique index providers_calendar_feed_secret_hash_key on providers (calendar_feed_secret_hash)
    where calendar_feed_secret_hash is not null;

-- Turns a provider's feed on (a new hash) or off (NULL). The provider themself or an admin of
-- the organization; `providers_update` is for admins only, so this is SECURITY DEFINER and checks
-- exactly that. Returns false when the provider is not one of the caller's organization (the API
-- answers 404, as for any record of another organization).
create function app.set_calendar_feed(p_provider_id uuid, p_secret_hash bytea) returns boolean
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
    if app.org_id() is null
       or not exists (select 1 from public.providers p where p.org_id = app.org_id() and p.id = p_provider_id) then
        return false;
    end if;
    if not (app.caller_is('admin') or p_provider_id is not distinct from app.provider_id()) then
        raise exception 'only the provider themself or an admin manages a calendar feed'
            using errcode = 'insufficient_privilege';
    end if;
    update public.providers set calendar_feed_secret_hash = p_secret_hash
     where org_id = app.org_id() and id = p_provider_id;
    return true;
end
$$;
revoke execute on function app.set_calendar_feed(uuid, bytea) from public;
grant execute on function app.set_calendar_feed(uuid, bytea) to authenticated;

-- What the feed shows, for the login role only (nobody is signed in: the secret is the
-- credential). SECURITY DEFINER and narrow: the appointments of the provider whose feed secret
-- hashes to p_secret_hash, not cancelled, from 30 days ago to 90 days ahead, and of each only
-- its id, times, type, modality, status and version: no patient, no location, no note. NULL
-- for an unknown or revoked secret.
create function app.calendar_feed(p_secret_hash bytea) returns jsonb
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select jsonb_build_object(
               'provider_id', p.id,
               'appointments', coalesce((
                   select jsonb_agg(jsonb_build_object(
                              'id', a.id,
                              'starts_at', a.starts_at,
                              'ends_at', a.ends_at,
                              'appointment_type', a.appointment_type,
                              'modality', a.modality,
                              'status', a.status,
                              'updated_at', a.updated_at)
                          order by a.starts_at, a.id)
                     from public.appointments a
                    where a.org_id = p.org_id and a.provider_id = p.id
                      and a.status <> 'cancelled'
                      and a.starts_at >= now() - interval '30 days'
                      and a.starts_at < now() + interval '90 days'), '[]'::jsonb))
      from public.providers p
     where p_secret_hash is not null and p.calendar_feed_secret_hash = p_secret_hash and p.is_active
$$;
revoke execute on function app.calendar_feed(bytea) from public;
grant execute on function app.calendar_feed(bytea) to indra_app;

------------------------------------------------------------------------------------------------
-- Completing an appointment's encounter completes the appointment.
--
-- Not SECURITY DEFINER: the caller who may move an encounter (admin, provider, staff) may move
-- an appointment too (0009), and the appointment's own status machine still applies. Only a
-- still scheduled appointment moves: one already completed stays, and one cancelled or missed
-- is not rewritten by a session recorded against it.
create function app.complete_appointment_of_encounter() returns trigger
language plpgsql
as $$
begin
    update public.appointments set status = 'completed'
     where org_id = new.org_id and id = new.appointment_id and status = 'scheduled';
    return null;
end
$$;
create trigger encounters_complete_appointment after update of status on encounters
    for each row
    when (new.status = 'completed' and old.status <> 'completed' and new.appointment_id is not null)
    execute function app.complete_appointment_of_encounter();
comment on trigger encounters_complete_appointment on encounters is
    'Completing an appointment''s encounter completes the appointment (when it is still scheduled).';
