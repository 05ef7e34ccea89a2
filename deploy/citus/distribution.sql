-- Emits the Citus statements that distribute Indra's schema by organization.
--
--   psql "$DATABASE_URL" -Atf deploy/citus/distribution.sql > distribute.sql
--   psql "$CITUS_COORDINATOR_URL" -f distribute.sql
--
-- Read from the catalog of a migrated database, so a table added by a new migration is
-- distributed without editing this file:
--   * the code sets every organization reads (tables without org_id that reference nothing
--     with org_id) become reference tables, copied to every node;
--   * organizations is distributed by its id, and every table with org_id is distributed by
--     org_id and co-located with it, so all of a practice's rows live on one node and every
--     key, foreign key, trigger and RLS policy is checked there (tests/distributable.rs keeps
--     every key and foreign key including org_id);
--   * the sign-in service (indra_auth), the deployment's signing keys (indra_keys) and the
--     migration ledger stay local to the coordinator.
-- Tables are emitted in foreign-key order: a table comes after the tables it references.

with recursive data_tables as (
    select c.oid, n.nspname, c.relname,
           exists (select 1 from pg_attribute a
                    where a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped) as has_org_id
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname = 'public' and c.relname <> '_sqlx_migrations'
       and not c.relispartition
),
-- Depth in the foreign-key graph: 0 for tables that reference no other data table.
depth (oid, level) as (
    select t.oid, 0 from data_tables t
    union all
    select k.conrelid, d.level + 1
      from pg_constraint k join depth d on d.oid = k.confrelid
     where k.contype = 'f' and k.conrelid <> k.confrelid and d.level < 50
),
ordered as (
    select t.*, max(d.level) as level
      from data_tables t join depth d on d.oid = t.oid
     group by t.oid, t.nspname, t.relname, t.has_org_id
)
select case
         when relname = 'organizations' then
           format('select create_distributed_table(%L, %L);', relname, 'id')
         when has_org_id then
           format('select create_distributed_table(%L, %L, colocate_with => %L);',
                  relname, 'org_id', 'organizations')
         else
           format('select create_reference_table(%L);', relname)
       end
  from ordered
 order by (not has_org_id and relname <> 'organizations') desc,  -- reference tables first
          relname <> 'organizations' ,                           -- then the tenant table
          level, relname;
