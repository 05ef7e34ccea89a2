-- 0002 Reference code sets: CPT procedure codes and ICD-10-CM diagnosis codes.
--
-- Shared by every organization (no org_id): readable by signed-in users, written only by the
-- service role (0008). On Citus they become reference tables, replicated to every node, so
-- foreign keys from distributed tables to them stay valid.

create table cpt_codes (
    code                text primary key check (code ~ '^[0-9]{4}[0-9A-Z]$'),
    -- A short label in Indra's own words: CPT descriptors are the AMA's copyright. A practice
    -- holding a licensed descriptor file can load it into `descriptor`.
    short_label         text not null check (length(short_label) between 1 and 120),
    descriptor          text,
    category            text not null check (category in
                            ('psychiatric_evaluation', 'psychotherapy', 'psychotherapy_add_on',
                             'crisis', 'family_psychotherapy', 'group_psychotherapy',
                             'interactive_complexity', 'assessment', 'evaluation_management')),
    -- The session minutes this code covers, for suggestion by duration
    -- (`time_range_minutes @> minutes`); NULL for codes not chosen by time.
    time_range_minutes  int4range check (time_range_minutes is null or not isempty(time_range_minutes)),
    -- Add-on codes are billed only beside one of their primary codes.
    is_add_on           boolean not null default false,
    add_on_to           text[] not null default '{}',
    check (is_add_on = (cardinality(add_on_to) > 0))
);
comment on table cpt_codes is 'Reference: behavioral-health CPT codes with the minutes each covers. Read-only for users.';
create index cpt_codes_time_range_idx on cpt_codes using gist (time_range_minutes);

create table icd10_codes (
    code         text primary key check (code ~ '^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$'),
    description  text not null,
    -- Only leaf codes (no more specific child) may go on a claim.
    is_billable  boolean not null,
    chapter      text
);
comment on table icd10_codes is 'Reference: ICD-10-CM codes behavioral health uses (chapter F01-F99 and Z codes). Read-only for users.';
create index icd10_codes_description_trgm_idx on icd10_codes using gin (description gin_trgm_ops);
