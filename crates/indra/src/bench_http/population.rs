//! Who the clients sign in as and what they ask for, read from the database the server serves
//! (as its owner, `DATABASE_URL`): users by role and organization, and per organization the
//! names, patients, weeks and claims the requests name. Works for any data set whose users
//! share one password: the ordinary demo (`indra demo --orgs 2`) and the scale set (`indra demo
//! --scale N`).

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use serde::Serialize;
use sqlx::PgPool;
use time::Date;
use uuid::Uuid;

/// A user who can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub email: String,
    pub auth_id: Uuid,
    pub user_id: Uuid,
    pub org_id: Uuid,
    /// admin, provider, billing or staff.
    pub role: String,
    /// The clinician's provider record.
    pub provider_id: Option<Uuid>,
}

/// A patient a request can name.
#[derive(Debug, Clone)]
pub struct PatientRef {
    pub id: Uuid,
    pub primary_provider_id: Option<Uuid>,
    /// Has active primary coverage: a session of theirs can be billed.
    pub insured: bool,
}

/// What the requests of one organization name.
#[derive(Debug, Clone, Default)]
pub struct OrgData {
    pub time_zone: String,
    /// Distinct last names of five letters or more (a typo in a shorter one leaves too few
    /// trigrams for the search's threshold; see `indra bench patient-search`).
    pub last_names: Vec<String>,
    /// Active patients, a sample in a stable random order.
    pub patients: Vec<PatientRef>,
    /// Providers of the organization.
    pub providers: Vec<Uuid>,
    /// Per provider, the Mondays (in the practice's zone) of weeks they have appointments in.
    pub weeks: HashMap<Uuid, Vec<Date>>,
    /// Claims per status.
    pub claim_statuses: Vec<(String, i64)>,
}

impl OrgData {
    /// The clinician's own patients (their primary provider), or the practice's when they have
    /// none.
    pub fn patients_of(&self, provider: Option<Uuid>) -> Vec<Uuid> {
        self.own_patients(provider)
            .into_iter()
            .map(|p| p.id)
            .collect()
    }

    /// The clinician's own patients with whether each is insured; the insured first.
    pub fn patients_with_coverage(&self, provider: Option<Uuid>) -> Vec<(Uuid, bool)> {
        let mut patients: Vec<(Uuid, bool)> = self
            .own_patients(provider)
            .into_iter()
            .map(|p| (p.id, p.insured))
            .collect();
        if patients.iter().any(|(_, insured)| *insured) {
            patients.retain(|(_, insured)| *insured);
        }
        patients
    }

    fn own_patients(&self, provider: Option<Uuid>) -> Vec<&PatientRef> {
        let own: Vec<&PatientRef> = self
            .patients
            .iter()
            .filter(|p| provider.is_some() && p.primary_provider_id == provider)
            .collect();
        if own.is_empty() {
            self.patients.iter().collect()
        } else {
            own
        }
    }
}

/// Sizes of the data set, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct DataSet {
    pub organizations: i64,
    pub patients: i64,
    pub users: i64,
    /// Estimated from the planner's statistics (`pg_class.reltuples`; absent for a table never
    /// analyzed): counting them exactly takes seconds at scale.
    pub estimated_rows: BTreeMap<String, i64>,
}

/// Users who may sign in (active, with a password), ordered by organization and e-mail.
pub async fn members(owner: &PgPool) -> anyhow::Result<Vec<Member>> {
    let rows: Vec<(String, Uuid, Uuid, Uuid, String, Option<Uuid>)> = sqlx::query_as(
        "select u.email::text, u.auth_id, u.id, u.org_id, u.role::text, p.id
           from users u
           join organizations o on o.id = u.org_id
           left join providers p on p.org_id = u.org_id and p.user_id = u.id
          where u.is_active
            and exists (select 1 from indra_auth.password_credentials c where c.auth_id = u.auth_id)
          order by o.name, u.org_id, u.email",
    )
    .fetch_all(owner)
    .await
    .context("reading the users who can sign in")?;
    Ok(rows
        .into_iter()
        .map(
            |(email, auth_id, user_id, org_id, role, provider_id)| Member {
                email,
                auth_id,
                user_id,
                org_id,
                role,
                provider_id,
            },
        )
        .collect())
}

/// `clients` members of the given roles, spread over organizations: the first of each
/// organization, then the second of each, and so on (so 32 clients over 200 practices come from
/// 32 practices); when there are fewer such users than clients, they are used again in the same
/// order. Clinicians need a provider record. `members` is in organization order.
pub fn spread(members: &[Member], roles: &[&str], clients: usize) -> Vec<Member> {
    let mut by_org: Vec<(Uuid, Vec<&Member>)> = Vec::new();
    for member in members.iter().filter(|m| {
        roles.contains(&m.role.as_str()) && (m.role != "provider" || m.provider_id.is_some())
    }) {
        match by_org.iter_mut().find(|(org, _)| *org == member.org_id) {
            Some((_, list)) => list.push(member),
            None => by_org.push((member.org_id, vec![member])),
        }
    }
    let mut order = Vec::new();
    let deepest = by_org.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for rank in 0..deepest {
        for (_, list) in &by_org {
            if let Some(m) = list.get(rank) {
                order.push((*m).clone());
            }
        }
    }
    if order.is_empty() {
        return order;
    }
    (0..clients)
        .map(|i| order[i % order.len()].clone())
        .collect()
}

/// The requests' material for organization `org_id`.
pub async fn org_data(owner: &PgPool, org_id: Uuid) -> anyhow::Result<OrgData> {
    let time_zone: String = sqlx::query_scalar("select time_zone from organizations where id = $1")
        .bind(org_id)
        .fetch_one(owner)
        .await?;
    let last_names: Vec<String> = sqlx::query_scalar(
        "select distinct last_name from patients where org_id = $1 and length(last_name) >= 5 order by 1",
    )
    .bind(org_id)
    .fetch_all(owner)
    .await?;
    let patients: Vec<(Uuid, Option<Uuid>, bool)> = sqlx::query_as(
        "select p.id, p.primary_provider_id,
                exists (select 1 from patient_insurance i
                         where i.org_id = p.org_id and i.patient_id = p.id and i.is_active
                           and i.priority = 'primary')
           from patients p where p.org_id = $1 and p.status = 'active'
          order by hashtext(p.id::text) limit 2000",
    )
    .bind(org_id)
    .fetch_all(owner)
    .await?;
    let providers: Vec<Uuid> =
        sqlx::query_scalar("select id from providers where org_id = $1 and is_active order by id")
            .bind(org_id)
            .fetch_all(owner)
            .await?;
    let week_rows: Vec<(Uuid, Date)> = sqlx::query_as(
        "select provider_id, date_trunc('week', starts_at at time zone $2)::date
           from appointments where org_id = $1
          group by 1, 2 order by 1, 2",
    )
    .bind(org_id)
    .bind(&time_zone)
    .fetch_all(owner)
    .await?;
    let mut weeks: HashMap<Uuid, Vec<Date>> = HashMap::new();
    for (provider, monday) in week_rows {
        weeks.entry(provider).or_default().push(monday);
    }
    let claim_statuses: Vec<(String, i64)> = sqlx::query_as(
        "select status::text, count(*) from billing_claims where org_id = $1 group by 1 order by 1",
    )
    .bind(org_id)
    .fetch_all(owner)
    .await?;
    Ok(OrgData {
        time_zone,
        last_names,
        patients: patients
            .into_iter()
            .map(|(id, primary_provider_id, insured)| PatientRef {
                id,
                primary_provider_id,
                insured,
            })
            .collect(),
        providers,
        weeks,
        claim_statuses,
    })
}

/// Ready claims per organization, most first: where 837P exports can be made.
pub async fn ready_claims_by_org(owner: &PgPool) -> anyhow::Result<Vec<(Uuid, i64)>> {
    Ok(sqlx::query_as(
        "select org_id, count(*) from billing_claims where status = 'ready'
          group by 1 order by 2 desc, 1",
    )
    .fetch_all(owner)
    .await?)
}

/// Tops organization `org_id` up to `wanted` ready claims by copying its documented claims
/// (submitted, accepted or paid; coverage without an authorization limit, so that exporting
/// the copies is never refused for it), lines and diagnoses included, then marking them ready
/// through the database's ready checks: what `indra bench claims-export` does in its scratch
/// database. Returns how many were made. The copies stay: an export submits them.
pub async fn make_ready_claims(owner: &PgPool, org_id: Uuid, wanted: i64) -> anyhow::Result<i64> {
    let mut tx = owner.begin().await?;
    let ready: i64 = sqlx::query_scalar(
        "select count(*) from billing_claims where org_id = $1 and status = 'ready'",
    )
    .bind(org_id)
    .fetch_one(&mut *tx)
    .await?;
    let missing = wanted - ready;
    if missing <= 0 {
        return Ok(0);
    }
    sqlx::query("create temp table bench_templates (id uuid, n bigint) on commit drop")
        .execute(&mut *tx)
        .await?;
    sqlx::query("create temp table bench_copies (id uuid, template_id uuid) on commit drop")
        .execute(&mut *tx)
        .await?;
    let templates = sqlx::query(
        "insert into bench_templates
         select c.id, row_number() over (order by c.claim_number) - 1
           from billing_claims c
           join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
          where c.org_id = $1 and c.status in ('submitted', 'accepted', 'paid')
            and pi.authorized_sessions is null",
    )
    .bind(org_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    anyhow::ensure!(
        templates > 0,
        "the organization has no submitted, accepted or paid claim (without an authorization \
         limit) to copy"
    );
    sqlx::query(
        "insert into bench_copies
         select gen_random_uuid(), t.id from generate_series(1, $1) g
           join bench_templates t on t.n = g % (select count(*) from bench_templates)",
    )
    .bind(missing)
    .execute(&mut *tx)
    .await?;
    for statement in [
        "insert into billing_claims (id, org_id, patient_id, patient_insurance_id, rendering_provider_id,
                                     claim_number, place_of_service, prior_authorization_number)
         select b.id, c.org_id, c.patient_id, c.patient_insurance_id, c.rendering_provider_id,
                'HB' || upper(substr(md5(b.id::text), 1, 14)), c.place_of_service,
                c.prior_authorization_number
           from bench_copies b join billing_claims c on c.org_id = $1 and c.id = b.template_id",
        "insert into claim_diagnoses (org_id, claim_id, sequence, icd10_code, patient_diagnosis_id)
         select d.org_id, b.id, d.sequence, d.icd10_code, d.patient_diagnosis_id
           from bench_copies b join claim_diagnoses d on d.org_id = $1 and d.claim_id = b.template_id",
        "insert into claim_line_items (org_id, claim_id, encounter_id, line_number, cpt_code, modifiers,
                                       units, charge, service_date, place_of_service, diagnosis_pointers)
         select l.org_id, b.id, l.encounter_id, l.line_number, l.cpt_code, l.modifiers,
                l.units, l.charge, l.service_date, l.place_of_service, l.diagnosis_pointers
           from bench_copies b join claim_line_items l on l.org_id = $1 and l.claim_id = b.template_id",
    ] {
        sqlx::query(statement)
            .bind(org_id)
            .execute(&mut *tx)
            .await
            .context("copying claims")?;
    }
    let made = sqlx::query(
        "update billing_claims set status = 'ready'
          where org_id = $1 and id in (select id from bench_copies)",
    )
    .bind(org_id)
    .execute(&mut *tx)
    .await
    .context("marking the copies ready")?
    .rows_affected();
    tx.commit().await?;
    Ok(i64::try_from(made)?)
}

/// The start and end of the week starting on `monday` in `time_zone`, as Unix seconds: what
/// the calendar endpoint computes for `from=monday&days=7`.
pub async fn week_bounds(
    owner: &PgPool,
    monday: Date,
    time_zone: &str,
) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "select extract(epoch from ($1::date)::timestamp at time zone $2)::int8,
                extract(epoch from ($1::date + 7)::timestamp at time zone $2)::int8",
    )
    .bind(monday)
    .bind(time_zone)
    .fetch_one(owner)
    .await?)
}

/// Counts for the report.
pub async fn data_set(owner: &PgPool) -> anyhow::Result<DataSet> {
    let (organizations, patients, users): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from organizations), (select count(*) from patients),
                (select count(*) from users)",
    )
    .fetch_one(owner)
    .await?;
    let estimated: Vec<(String, i64)> = sqlx::query_as(
        "select c.relname::text, c.reltuples::int8 from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind = 'r' and c.reltuples >= 0
            and c.relname in ('encounters', 'clinical_notes', 'note_signatures', 'appointments',
                              'billing_claims', 'claim_line_items', 'patient_diagnoses', 'audit_log')
          order by 1",
    )
    .fetch_all(owner)
    .await?;
    Ok(DataSet {
        organizations,
        patients,
        users,
        estimated_rows: estimated.into_iter().collect(),
    })
}

/// The server's PostgreSQL: its version and the settings that shape the figures.
pub async fn postgres_settings(
    owner: &PgPool,
) -> anyhow::Result<(String, BTreeMap<String, String>)> {
    let version: String = sqlx::query_scalar("select version()")
        .fetch_one(owner)
        .await?;
    let settings: Vec<(String, String)> = sqlx::query_as(
        "select name, setting || coalesce(' ' || unit, '') from pg_settings
          where name in ('shared_buffers', 'work_mem', 'max_connections', 'synchronous_commit',
                         'fsync', 'effective_cache_size', 'random_page_cost', 'jit',
                         'max_wal_size', 'autovacuum')
          order by name",
    )
    .fetch_all(owner)
    .await?;
    Ok((version, settings.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(org: u128, email: &str, role: &str, provider: bool) -> Member {
        Member {
            email: email.into(),
            auth_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            org_id: Uuid::from_u128(org),
            role: role.into(),
            provider_id: provider.then(Uuid::new_v4),
        }
    }

    #[test]
    fn clients_are_spread_over_organizations_first() {
        let members = vec![
            member(1, "a1", "provider", true),
            member(1, "a2", "provider", true),
            member(1, "b1", "billing", false),
            member(2, "c1", "provider", true),
            member(3, "d1", "provider", true),
            member(3, "d2", "provider", true),
        ];
        let chosen: Vec<String> = spread(&members, &["provider"], 4)
            .into_iter()
            .map(|m| m.email)
            .collect();
        assert_eq!(chosen, ["a1", "c1", "d1", "a2"]);
        // More clients than clinicians: the same order again.
        let chosen: Vec<String> = spread(&members, &["provider"], 7)
            .into_iter()
            .map(|m| m.email)
            .collect();
        assert_eq!(chosen, ["a1", "c1", "d1", "a2", "d2", "a1", "c1"]);
    }

    #[test]
    fn a_clinician_without_a_provider_record_is_left_out() {
        let members = vec![
            member(1, "a1", "provider", false),
            member(1, "a2", "provider", true),
        ];
        let chosen = spread(&members, &["provider"], 2);
        assert!(chosen.iter().all(|m| m.email == "a2"));
        assert!(spread(&members, &["billing"], 3).is_empty());
    }

    #[test]
    fn own_patients_first() {
        let provider = Uuid::from_u128(7);
        let data = OrgData {
            patients: vec![
                PatientRef {
                    id: Uuid::from_u128(1),
                    primary_provider_id: Some(provider),
                    insured: false,
                },
                PatientRef {
                    id: Uuid::from_u128(2),
                    primary_provider_id: None,
                    insured: true,
                },
                PatientRef {
                    id: Uuid::from_u128(3),
                    primary_provider_id: Some(provider),
                    insured: true,
                },
            ],
            ..OrgData::default()
        };
        assert_eq!(
            data.patients_of(Some(provider)),
            [Uuid::from_u128(1), Uuid::from_u128(3)]
        );
        assert_eq!(data.patients_of(Some(Uuid::from_u128(8))).len(), 3);
        assert_eq!(data.patients_of(None).len(), 3);
        // The assistant's patients: the insured among the clinician's own, when there are any.
        assert_eq!(
            data.patients_with_coverage(Some(provider)),
            [(Uuid::from_u128(3), true)]
        );
    }
}
