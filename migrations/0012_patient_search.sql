-- 0012 Patient search: by name (typo-tolerant, partial, ranked), date of birth, or record number,
-- fast on an organization of 100,000 patients, with the organization wall kept in the database.
--
-- Why a function: pg_trgm's operators (%, <%, similarity) are not LEAKPROOF, so under row-level
-- security the planner must apply the policy (org_id = the caller's) before them. It then reads
-- every patient of the organization and filters by name: most of a second at 100,000 patients
-- (/work/shared/MEASURED.md). app.search_patients reads past RLS as its owner and states the
-- wall itself, `org_id = app.org_id()` from the caller's claims (never from a parameter), so the
-- organization and the trigram condition go into one index condition on patients_name_trgm_idx
-- (org_id, last_name gin_trgm_ops, first_name gin_trgm_ops). Every role may see demographics
-- (docs/security-model.md), so the wall is the whole of the policy it replaces. Without claims
-- app.org_id() is NULL and nothing matches.

-- Record numbers by prefix, case-insensitively: byte order ("C") makes a prefix a range.
create index patients_mrn_prefix_idx on patients (org_id, (upper(mrn)) collate "C");
-- The plain list, in creation order (cursor paging), without sorting the organization.
create index patients_created_idx on patients (org_id, created_at, id);

-- The search. Exactly what to look for is decided by the caller's words (the server parses them):
--   name_words  up to three lowercase words, longest first; each must be close to the first or
--               the last name (a typo, or the start of the name). The longest drives the index.
--   born_on     the date of birth;
--   mrn_prefix  the upper-cased start of a record number (an exact number ranks first).
-- Ranked best first: for names, the mean word similarity of the words to the closer of first
-- and last name, with the similarity of the whole name as a tie-breaker.
create function app.search_patients(name_words text[], born_on date, mrn_prefix text, max_rows integer)
returns table (id uuid, mrn text, first_name text, last_name text, preferred_name text,
               date_of_birth date, status patient_status, primary_provider_id uuid,
               created_at timestamptz, rank real)
language sql stable security definer
set search_path = pg_catalog, public
-- A word finds a name it is the start of ("mari": Marisol, 0.8) or a misspelling of ("Kettring":
-- Kettering, 0.58). A typo in a short name ("Smyth": Smith, 0.33) is below it: lowering the
-- threshold that far multiplies the rows each search must read and rank.
set pg_trgm.word_similarity_threshold = 0.5
as $$
    select r.* from (
        select p.id, p.mrn, p.first_name, p.last_name, p.preferred_name, p.date_of_birth, p.status,
               p.primary_provider_id, p.created_at,
               ((  greatest(word_similarity(name_words[1], p.last_name), word_similarity(name_words[1], p.first_name))
                 + coalesce(greatest(word_similarity(name_words[2], p.last_name), word_similarity(name_words[2], p.first_name)), 0)
                 + coalesce(greatest(word_similarity(name_words[3], p.last_name), word_similarity(name_words[3], p.first_name)), 0)
                ) / cardinality(name_words) * 0.8
                + similarity(p.first_name || ' ' || p.last_name, array_to_string(name_words, ' ')) * 0.2)::real as score
          from public.patients p
         where cardinality(name_words) between 1 and 3
           and p.org_id = (select app.org_id())
           and (name_words[1] <% p.last_name or name_words[1] <% p.first_name)
           and (cardinality(name_words) < 2 or name_words[2] <% p.last_name or name_words[2] <% p.first_name)
           and (cardinality(name_words) < 3 or name_words[3] <% p.last_name or name_words[3] <% p.first_name)
        union all
        select p.id, p.mrn, p.first_name, p.last_name, p.preferred_name, p.date_of_birth, p.status,
               p.primary_provider_id, p.created_at, 1::real as score
          from public.patients p
         where born_on is not null
           and p.org_id = (select app.org_id())
           and p.date_of_birth = born_on
        union all
        select p.id, p.mrn, p.first_name, p.last_name, p.preferred_name, p.date_of_birth, p.status,
               p.primary_provider_id, p.created_at,
               case when upper(p.mrn) = mrn_prefix then 1::real else 0.9::real end as score
          from public.patients p
         where mrn_prefix <> ''
           and p.org_id = (select app.org_id())
           and (upper(p.mrn) collate "C") >= mrn_prefix
           and (upper(p.mrn) collate "C") < mrn_prefix || '~'
    ) r
    order by r.score desc, r.last_name, r.first_name, r.id
    limit least(greatest(max_rows, 1), 200)
$$;
comment on function app.search_patients(text[], date, text, integer) is
    'Patients of the caller''s organization (from the claims, never a parameter) by name words, date of birth or MRN prefix, best first. SECURITY DEFINER so the trigram index condition is kept; the organization wall is stated in the query.';
revoke execute on function app.search_patients(text[], date, text, integer) from public;
grant execute on function app.search_patients(text[], date, text, integer) to authenticated;

-- 0004's discharge check let a discharge without a reason through: with discharge_reason NULL,
-- `length(btrim(NULL)) > 0` is NULL, and a CHECK passes on NULL. Same name, so the API's answer
-- ("discharging a patient needs discharged_on and a discharge_reason") stays.
alter table patients drop constraint patients_discharge_check,
    add constraint patients_discharge_check check (
        (status = 'discharged') = (discharged_on is not null)
        and (status <> 'discharged' or coalesce(length(btrim(discharge_reason)), 0) > 0));
