//! `indra demo`: fictitious organizations with rows in every table, loaded reproducibly.
//!
//! Each demo organization is identified by its position (1, 2, 3, ...): its id and every row's
//! id are derived from that position, so loading again skips what is already there and never
//! duplicates an organization. Dates are placed around the current week in the practice's time
//! zone, so the schedule, "today" and the claims queue always look alive.
//!
//! This is one of the few named service-role doors: the loader writes as `service_role`
//! (recorded as such in the audit log), because it creates organizations, which no signed-in
//! user may do.

mod billing;
mod names;
pub mod scale;

use anyhow::Context;
use argon2::password_hash::{PasswordHasher, SaltString};
use ed25519_dalek::SigningKey;
use indra_rules::clinical::note_signing::{
    NoteVersionIdentity, note_content_hash, sign_note, signing_time_text,
};
use indra_rules::platform::npi::npi_with_check_digit;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use names::{CLINICIANS, FIRST_NAMES, LAST_NAMES, PRACTICES, PRIMARY_DIAGNOSES, THEMES};

/// The id of the key that signs demo notes. Demo signatures are real Ed25519 signatures, but
/// the key is derived from a public constant: they prove nothing outside a demo.
pub const DEMO_SIGNING_KEY_ID: &str = "indra-demo-key-1";

/// Patients per demo organization.
const PATIENTS_PER_ORG: usize = 24;

/// The demo signing key (derived from a public constant, for demo data only).
pub fn demo_signing_key() -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(b"indra demo signing key, not for real records").into())
}

/// What `load_demo` did.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub loaded: Vec<DemoOrganization>,
    pub already_present: Vec<DemoOrganization>,
}

#[derive(Debug, Clone)]
pub struct DemoOrganization {
    pub id: Uuid,
    pub name: String,
    pub logins: Vec<DemoLogin>,
    /// Rows of each table that belong to the organization, after loading.
    pub row_counts: Vec<(String, i64)>,
}

#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub email: String,
    pub role: &'static str,
    pub full_name: String,
}

/// Loads demo organizations 1..=`orgs`, skipping those already present.
pub async fn load_demo(pool: &PgPool, orgs: u32, password: &str) -> anyhow::Result<DemoSummary> {
    let mut summary = DemoSummary {
        loaded: Vec::new(),
        already_present: Vec::new(),
    };
    publish_demo_signing_key(pool).await?;
    for position in 1..=orgs {
        let plan = OrgPlan::new(position);
        let present: bool =
            sqlx::query_scalar("select exists (select 1 from organizations where id = $1)")
                .bind(plan.org_id)
                .fetch_one(pool)
                .await?;
        if !present {
            let mut tx = pool.begin().await?;
            load_organization(&mut tx, &plan, password)
                .await
                .with_context(|| format!("loading demo organization {}", plan.name))?;
            tx.commit().await?;
        }
        let organization = DemoOrganization {
            id: plan.org_id,
            name: plan.name.clone(),
            logins: plan.logins(),
            row_counts: row_counts(pool, plan.org_id).await?,
        };
        if present {
            summary.already_present.push(organization);
        } else {
            summary.loaded.push(organization);
        }
    }
    Ok(summary)
}

/// The demo's notes are signed with the demo key: published beside the server's own, so that
/// their signatures verify. Only in databases that hold the demo: its private key is derived
/// from a public constant. Publishing it again changes nothing.
async fn publish_demo_signing_key(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("select app.register_signing_key($1, $2)")
        .bind(DEMO_SIGNING_KEY_ID)
        .bind(demo_signing_key().verifying_key().as_bytes().as_slice())
        .execute(pool)
        .await
        .context("publishing the demo signing key")?;
    Ok(())
}

/// Rows per organization-scoped table, for the summary.
async fn row_counts(pool: &PgPool, org_id: Uuid) -> anyhow::Result<Vec<(String, i64)>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.table_name::text from information_schema.columns c
           join information_schema.tables t using (table_schema, table_name)
          where c.table_schema = 'public' and c.column_name = 'org_id' and t.table_type = 'BASE TABLE'
          order by c.table_name",
    )
    .fetch_all(pool)
    .await?;
    let mut counts = Vec::with_capacity(tables.len());
    for table in tables {
        // The table name comes from the catalog, not from input.
        let count: i64 = sqlx::query_scalar(&format!(
            "select count(*) from public.{} where org_id = $1",
            quote_ident(&table)
        ))
        .bind(org_id)
        .fetch_one(pool)
        .await?;
        counts.push((table, count));
    }
    Ok(counts)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Everything about demo organization `position` that does not need the database.
struct OrgPlan {
    position: u32,
    org_id: Uuid,
    name: String,
    domain: String,
    practice: &'static names::Practice,
}

impl OrgPlan {
    fn new(position: u32) -> Self {
        let index = (position as usize - 1) % PRACTICES.len();
        let round = (position as usize - 1) / PRACTICES.len();
        let practice = &PRACTICES[index];
        let (name, domain) = if round == 0 {
            (
                practice.name.to_owned(),
                format!("{}.example", practice.slug),
            )
        } else {
            (
                format!("{} {}", practice.name, round + 1),
                format!("{}{}.example", practice.slug, round + 1),
            )
        };
        Self {
            position,
            org_id: demo_id(position, "organization"),
            name,
            domain,
            practice,
        }
    }

    /// A stable id for the row called `key` in this organization.
    fn id(&self, key: &str) -> Uuid {
        demo_id(self.position, key)
    }

    /// The clinician at `index` (0..CLINICIANS.len()): a name that differs per organization.
    fn clinician_name(&self, index: usize) -> (&'static str, &'static str) {
        let p = self.position as usize;
        (
            FIRST_NAMES[(p * 5 + index * 11 + 3) % FIRST_NAMES.len()],
            LAST_NAMES[(p * 3 + index * 13 + 7) % LAST_NAMES.len()],
        )
    }

    fn patient_name(&self, index: usize) -> (&'static str, &'static str) {
        let p = self.position as usize;
        (
            FIRST_NAMES[(index * 7 + p) % FIRST_NAMES.len()],
            LAST_NAMES[(index * 5 + p * 3 + 1) % LAST_NAMES.len()],
        )
    }

    fn logins(&self) -> Vec<DemoLogin> {
        let mut logins = vec![DemoLogin {
            email: format!("admin@{}", self.domain),
            role: "admin",
            full_name: "Morgan Practice-Admin".to_owned(),
        }];
        for (index, clinician) in CLINICIANS.iter().enumerate() {
            let (first, last) = self.clinician_name(index);
            logins.push(DemoLogin {
                email: format!(
                    "{}.{}@{}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    self.domain
                ),
                role: "provider",
                full_name: format!("{first} {last}, {}", clinician.credentials),
            });
        }
        logins.push(DemoLogin {
            email: format!("billing@{}", self.domain),
            role: "billing",
            full_name: "Riley Billing-Specialist".to_owned(),
        });
        logins.push(DemoLogin {
            email: format!("frontdesk@{}", self.domain),
            role: "staff",
            full_name: "Jordan Front-Desk".to_owned(),
        });
        logins
    }
}

/// The demo password as an argon2id PHC string, salted with the digest of `salt_seed`: the same
/// inputs give the same string, so reloading writes the same rows.
fn demo_password_hash(password: &str, salt_seed: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&Sha256::digest(salt_seed)[..16])
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?
        .to_string())
}

/// A UUID derived from the organization's position and a key (UUIDv8, SHA-256 based).
fn demo_id(position: u32, key: &str) -> Uuid {
    let digest = Sha256::digest(format!("indra-demo/{position}/{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// A clinician as loaded, with what later rows need.
struct Clinician {
    provider_id: Uuid,
    user_id: Uuid,
    format: &'static str,
}

/// A patient as loaded.
struct Patient {
    index: usize,
    id: Uuid,
    first_name: &'static str,
    clinician: usize,
    diagnoses: Vec<String>,
    coverage: Option<Coverage>,
}

struct Coverage {
    patient_insurance_id: Uuid,
    prior_authorization: Option<String>,
}

/// A completed session, with its note.
struct Session {
    patient: usize,
    week: i64,
    encounter_id: Uuid,
    minutes: i32,
    video: bool,
    service_date: Date,
}

async fn load_organization(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    password: &str,
) -> anyhow::Result<()> {
    let practice = plan.practice;
    let org = plan.org_id;

    // The credentials schema is reachable only by the login role, so users' passwords are
    // written before switching to the service role.
    let logins = plan.logins();
    let mut user_ids = Vec::new();
    sqlx::query("select set_config('request.id', $1, true)")
        .bind(format!("demo-loader-{}", plan.position))
        .execute(&mut **tx)
        .await?;
    sqlx::query("set local role service_role")
        .execute(&mut **tx)
        .await?;

    sqlx::query(
        "insert into organizations (id, name, time_zone, tax_id, billing_npi, address_line1, city, state, postal_code, phone)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(org)
    .bind(&plan.name)
    .bind(practice.time_zone)
    .bind(format!("{:02}-{:07}", 10 + plan.position % 80, 1_000_000 + plan.position * 7919 % 8_999_999))
    .bind(npi_with_check_digit(&format!("1{:08}", 50_000_000 + plan.position * 7)))
    .bind(format!("{} Main Street, Suite {}", 100 + plan.position, 200 + plan.position))
    .bind(practice.city)
    .bind(practice.state)
    // ZIP+4: the 837P's billing provider address requires all nine digits.
    .bind(format!("{}-{:04}", practice.postal_code, 1200 + plan.position % 8000))
    .bind("555-0100")
    .execute(&mut **tx)
    .await?;

    for login in &logins {
        let user_id = plan.id(&format!("user/{}", login.email));
        sqlx::query(
            "insert into users (id, org_id, auth_id, email, full_name, role)
             values ($1, $2, $3, $4, $5, $6::user_role)",
        )
        .bind(user_id)
        .bind(org)
        .bind(plan.id(&format!("auth/{}", login.email)))
        .bind(&login.email)
        .bind(&login.full_name)
        .bind(login.role)
        .execute(&mut **tx)
        .await?;
        user_ids.push(user_id);
    }

    // Providers: the third practises under the second's supervision.
    let mut clinicians = Vec::new();
    for (index, role) in CLINICIANS.iter().enumerate() {
        let (first, last) = plan.clinician_name(index);
        let provider_id = plan.id(&format!("provider/{index}"));
        let supervisor = role.requires_supervision.then(|| plan.id("provider/1"));
        let npi = npi_with_check_digit(&format!(
            "1{:08}",
            (plan.position as usize * 1000 + index * 37 + 11_000_000) % 100_000_000
        ));
        sqlx::query(
            "insert into providers (id, org_id, user_id, first_name, last_name, credentials, npi,
                                    license_number, license_state, taxonomy_code, preferred_note_format,
                                    requires_supervision, supervisor_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::note_format, $12, $13)",
        )
        .bind(provider_id)
        .bind(org)
        .bind(user_ids[1 + index])
        .bind(first)
        .bind(last)
        .bind(role.credentials)
        .bind(&npi)
        .bind(format!("LIC-{}-{:05}", practice.state, plan.position as usize * 100 + index))
        .bind(practice.state)
        .bind(role.taxonomy_code)
        .bind(role.note_format)
        .bind(role.requires_supervision)
        .bind(supervisor)
        .execute(&mut **tx)
        .await?;
        clinicians.push(Clinician {
            provider_id,
            user_id: user_ids[1 + index],
            format: role.note_format,
        });
    }

    // Passwords, as the login role (the API roles cannot reach indra_auth).
    sqlx::query("reset role").execute(&mut **tx).await?;
    for (login, _) in logins.iter().zip(&user_ids) {
        let hash = demo_password_hash(password, login.email.as_bytes())?;
        sqlx::query(
            "insert into indra_auth.password_credentials (auth_id, password_hash) values ($1, $2)",
        )
        .bind(plan.id(&format!("auth/{}", login.email)))
        .bind(hash)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("set local role service_role")
        .execute(&mut **tx)
        .await?;

    // Payers: one that requires prior authorization, one that does not.
    let payers = [
        (plan.id("payer/0"), "Blue Harbor Health Plan", "BHHP1", true),
        (
            plan.id("payer/1"),
            "Summit Mutual Insurance",
            "SMI01",
            false,
        ),
    ];
    for (id, name, payer_id, prior_auth) in payers {
        sqlx::query(
            "insert into insurance_payers (id, org_id, name, payer_id, requires_prior_authorization, city, state, postal_code)
             values ($1, $2, $3, $4, $5, 'Hartford', 'CT', '06103')",
        )
        .bind(id)
        .bind(org)
        .bind(name)
        .bind(payer_id)
        .bind(prior_auth)
        .execute(&mut **tx)
        .await?;
    }

    let today: Date = sqlx::query_scalar("select (now() at time zone $1)::date")
        .bind(practice.time_zone)
        .fetch_one(&mut **tx)
        .await?;
    let this_monday = today - Duration::days(i64::from(today.weekday().number_days_from_monday()));

    let mut patients = Vec::new();
    for index in 0..PATIENTS_PER_ORG {
        patients.push(load_patient(tx, plan, &clinicians, &payers, index, today).await?);
    }

    let sessions = load_schedule(tx, plan, &clinicians, &patients, this_monday).await?;
    load_notes(tx, plan, &clinicians, &patients, &sessions).await?;
    load_claims(tx, plan, &clinicians, &patients, &sessions).await?;
    load_treatment_plans(tx, plan, &clinicians, &patients, today).await?;
    load_ai_runs(tx, plan, &clinicians, &patients, &sessions, this_monday).await?;

    // The front desk registered the first patient through the API with an Idempotency-Key:
    // the stored answer a retry of that request would get.
    sqlx::query(
        "insert into idempotency_keys (org_id, user_id, key, request_hash, status_code, response_body)
         values ($1, $2, 'demo-register-first-patient', $3, 201, $4)",
    )
    .bind(org)
    .bind(user_ids[user_ids.len() - 1])
    .bind(&Sha256::digest(b"POST /api/v1/patients")[..])
    .bind(json!({"id": patients[0].id}))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn load_patient(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    clinicians: &[Clinician],
    payers: &[(Uuid, &str, &str, bool); 2],
    index: usize,
    today: Date,
) -> anyhow::Result<Patient> {
    let org = plan.org_id;
    let (first, last) = plan.patient_name(index);
    let id = plan.id(&format!("patient/{index}"));
    let clinician = index % clinicians.len();
    let birth_year = 1960 + ((index * 7 + plan.position as usize) % 50) as i32;
    let dob = Date::from_calendar_date(
        birth_year,
        time::Month::try_from(1 + (index % 12) as u8)?,
        1 + (index % 27) as u8,
    )?;
    sqlx::query(
        "insert into patients (id, org_id, mrn, first_name, last_name, date_of_birth, sex_at_birth, pronouns,
                               email, phone, city, state, postal_code, primary_provider_id, address_line1)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(id)
    .bind(org)
    .bind(format!("MRN-{:03}-{:04}", plan.position, 1001 + index))
    .bind(first)
    .bind(last)
    .bind(dob)
    .bind(if index.is_multiple_of(2) { "female" } else { "male" })
    .bind(if index.is_multiple_of(2) { "she/her" } else { "he/him" })
    .bind(format!("{}.{}@mail.example", first.to_lowercase(), last.to_lowercase()))
    .bind(format!("555-01{:02}", index % 100))
    .bind(plan.practice.city)
    .bind(plan.practice.state)
    .bind(plan.practice.postal_code)
    .bind(clinicians[clinician].provider_id)
    // Claims carry the patient's (and subscriber's) street address.
    .bind(format!("{} Elm Street", 100 + index * 3))
    .execute(&mut **tx)
    .await?;

    // Diagnoses: a primary one, sometimes a Z code beside it; one resolved, one ruled out.
    let primary = PRIMARY_DIAGNOSES[(index + plan.position as usize) % PRIMARY_DIAGNOSES.len()];
    let mut diagnoses = vec![primary.to_owned()];
    let onset = today - Duration::days(120 + index as i64 * 3);
    insert_diagnosis(
        tx,
        plan,
        index,
        0,
        primary,
        "active",
        true,
        onset,
        clinicians[clinician].provider_id,
    )
    .await?;
    if index.is_multiple_of(3) {
        insert_diagnosis(
            tx,
            plan,
            index,
            1,
            "Z63.0",
            "active",
            false,
            onset,
            clinicians[clinician].provider_id,
        )
        .await?;
        diagnoses.push("Z63.0".to_owned());
    }
    if index % 8 == 4 {
        insert_diagnosis(
            tx,
            plan,
            index,
            2,
            "F43.21",
            "resolved",
            false,
            onset - Duration::days(200),
            clinicians[clinician].provider_id,
        )
        .await?;
    }
    if index % 8 == 5 {
        insert_diagnosis(
            tx,
            plan,
            index,
            3,
            "F31.81",
            "ruled_out",
            false,
            onset,
            clinicians[clinician].provider_id,
        )
        .await?;
    }

    // Medications for the prescriber's patients: one active, one changed, one discontinued.
    if CLINICIANS[clinician].prescriber {
        let prescriber = clinicians[clinician].provider_id;
        let started = today - Duration::days(180);
        let sertraline = plan.id(&format!("medication/{index}/sertraline"));
        insert_medication(
            tx,
            plan,
            sertraline,
            id,
            prescriber,
            "sertraline",
            "50 mg",
            "daily",
            started,
            None,
        )
        .await?;
        let escitalopram_10 = plan.id(&format!("medication/{index}/escitalopram-10"));
        insert_medication(
            tx,
            plan,
            escitalopram_10,
            id,
            prescriber,
            "escitalopram",
            "10 mg",
            "daily",
            started,
            None,
        )
        .await?;
        let escitalopram_20 = plan.id(&format!("medication/{index}/escitalopram-20"));
        let changed_on = today - Duration::days(30);
        insert_medication(
            tx,
            plan,
            escitalopram_20,
            id,
            prescriber,
            "escitalopram",
            "20 mg",
            "daily",
            changed_on,
            Some(escitalopram_10),
        )
        .await?;
        sqlx::query(
            "update medications set status = 'changed', ended_on = $3, change_reason = 'Partial response at 10 mg; dose increased'
              where org_id = $1 and id = $2",
        )
        .bind(org)
        .bind(escitalopram_10)
        .bind(changed_on)
        .execute(&mut **tx)
        .await?;
        let bupropion = plan.id(&format!("medication/{index}/bupropion"));
        insert_medication(
            tx,
            plan,
            bupropion,
            id,
            prescriber,
            "bupropion XL",
            "150 mg",
            "every morning",
            started,
            None,
        )
        .await?;
        sqlx::query(
            "update medications set status = 'discontinued', ended_on = $3, change_reason = 'Insomnia; stopped at the patient''s request'
              where org_id = $1 and id = $2",
        )
        .bind(org)
        .bind(bupropion)
        .bind(today - Duration::days(60))
        .execute(&mut **tx)
        .await?;
    }

    // Coverage: most patients are insured; every sixth pays for themself.
    let coverage = if index % 6 == 5 {
        None
    } else {
        let (payer_id, _, _, prior_auth) = payers[index % 2];
        let patient_insurance_id = plan.id(&format!("insurance/{index}/primary"));
        let authorization = prior_auth.then(|| format!("AUTH-{}-{:04}", plan.position, index));
        let child = index % 12 == 7;
        sqlx::query(
            "insert into patient_insurance (id, org_id, patient_id, insurance_payer_id, priority, member_id, group_number,
                                            subscriber_relationship, subscriber_first_name, subscriber_last_name,
                                            subscriber_date_of_birth, effective_from, authorization_number,
                                            authorization_start, authorization_end, authorized_cpt_codes, authorized_sessions)
             values ($1, $2, $3, $4, 'primary', $5, $6, $7::subscriber_relationship, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(patient_insurance_id)
        .bind(plan.org_id)
        .bind(id)
        .bind(payer_id)
        .bind(format!("M{:03}{:06}", plan.position, 100_000 + index * 97))
        .bind(format!("G{:05}", 10_000 + plan.position))
        .bind(if child { "child" } else { "self" })
        .bind(child.then_some("Harper"))
        .bind(child.then_some(last))
        .bind(child.then(|| dob - Duration::days(365 * 30)))
        .bind(today - Duration::days(365))
        .bind(authorization.as_deref())
        .bind(authorization.as_ref().map(|_| today - Duration::days(60)))
        .bind(authorization.as_ref().map(|_| today + Duration::days(120)))
        .bind(if authorization.is_some() { vec!["90832", "90834", "90837"] } else { Vec::new() })
        .bind(authorization.as_ref().map(|_| 20))
        .execute(&mut **tx)
        .await?;
        if index == 2 {
            sqlx::query(
                "insert into patient_insurance (id, org_id, patient_id, insurance_payer_id, priority, member_id, effective_from)
                 values ($1, $2, $3, $4, 'secondary', $5, $6)",
            )
            .bind(plan.id(&format!("insurance/{index}/secondary")))
            .bind(plan.org_id)
            .bind(id)
            .bind(payers[1].0)
            .bind(format!("S{:03}{:06}", plan.position, 200_000 + index))
            .bind(today - Duration::days(200))
            .execute(&mut **tx)
            .await?;
        }
        Some(Coverage {
            patient_insurance_id,
            prior_authorization: authorization,
        })
    };

    Ok(Patient {
        index,
        id,
        first_name: first,
        clinician,
        diagnoses,
        coverage,
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, named at the call"
)]
async fn insert_diagnosis(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    patient: usize,
    n: usize,
    code: &str,
    status: &str,
    primary: bool,
    onset: Date,
    provider: Uuid,
) -> anyhow::Result<()> {
    let closed_on = onset + Duration::days(60);
    sqlx::query(
        "insert into patient_diagnoses (id, org_id, patient_id, icd10_code, status, is_primary, onset_date,
                                        diagnosed_on, resolved_on, ruled_out_on, diagnosed_by_provider_id)
         values ($1, $2, $3, $4, $5::diagnosis_status, $6, $7, $7, $8, $9, $10)",
    )
    .bind(plan.id(&format!("diagnosis/{patient}/{n}")))
    .bind(plan.org_id)
    .bind(plan.id(&format!("patient/{patient}")))
    .bind(code)
    .bind(status)
    .bind(primary)
    .bind(onset)
    .bind((status == "resolved").then_some(closed_on))
    .bind((status == "ruled_out").then_some(closed_on))
    .bind(provider)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, named at the call"
)]
async fn insert_medication(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    id: Uuid,
    patient: Uuid,
    prescriber: Uuid,
    name: &str,
    dose: &str,
    frequency: &str,
    started: Date,
    previous: Option<Uuid>,
) -> anyhow::Result<()> {
    sqlx::query(
        "insert into medications (id, org_id, patient_id, prescriber_provider_id, name, dose, route, frequency,
                                  started_on, previous_medication_id)
         values ($1, $2, $3, $4, $5, $6, 'oral', $7, $8, $9)",
    )
    .bind(id)
    .bind(plan.org_id)
    .bind(patient)
    .bind(prescriber)
    .bind(name)
    .bind(dose)
    .bind(frequency)
    .bind(started)
    .bind(previous)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Weekly series (every other week for medication management) starting four weeks ago, eight
/// occurrences each; past ones completed (with an encounter), a few cancelled or missed.
async fn load_schedule(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    clinicians: &[Clinician],
    patients: &[Patient],
    this_monday: Date,
) -> anyhow::Result<Vec<Session>> {
    let org = plan.org_id;
    let now = OffsetDateTime::now_utc();
    let mut sessions = Vec::new();
    for patient in patients {
        let role = &CLINICIANS[patient.clinician];
        let slot = patient.index / clinicians.len(); // 0..6, distinct per clinician
        let weekday = (slot % 5) as i64;
        let hour = 9 + 2 * (slot / 5) as i32 + i32::from(role.prescriber);
        let interval = if role.prescriber { 2 } else { 1 };
        let video = slot == 3;
        let (appointment_type, length) = if role.prescriber {
            ("medication_management", 30)
        } else {
            ("individual_therapy", 53)
        };
        let byday = ["MO", "TU", "WE", "TH", "FR"][weekday as usize];
        let rule = json!({
            "FREQ": "WEEKLY",
            "INTERVAL": interval,
            "COUNT": 8,
            "BYDAY": [byday],
        });
        let series_id = plan.id(&format!("appointment/{}/0", patient.index));
        for occurrence in 0..8i64 {
            let week = -4 + occurrence * interval;
            let day = this_monday + Duration::days(week * 7 + weekday);
            let id = plan.id(&format!("appointment/{}/{occurrence}", patient.index));
            let starts_at: OffsetDateTime =
                sqlx::query_scalar("select ($1::date + make_time($2, 0, 0)) at time zone $3")
                    .bind(day)
                    .bind(hour)
                    .bind(plan.practice.time_zone)
                    .fetch_one(&mut **tx)
                    .await?;
            let past = starts_at + Duration::minutes(length) < now;
            let missed = past && (patient.index as i64 + occurrence) % 11 == 0;
            let cancelled = past && !missed && (patient.index as i64 + occurrence) % 13 == 0;
            let status = match (past, missed, cancelled) {
                (_, true, _) => "no_show",
                (_, _, true) => "cancelled",
                (true, _, _) => "completed",
                _ => "scheduled",
            };
            sqlx::query(
                "insert into appointments (id, org_id, patient_id, provider_id, appointment_type, modality, starts_at,
                                           ends_at, status, series_id, recurrence_rule, location, cancelled_at, cancel_reason)
                 values ($1, $2, $3, $4, $5::encounter_type, $6::session_modality, $7, $7 + make_interval(mins => $8),
                         'scheduled', $9, $10, $11, null, null)",
            )
            .bind(id)
            .bind(org)
            .bind(patient.id)
            .bind(clinicians[patient.clinician].provider_id)
            .bind(appointment_type)
            .bind(if video { "video" } else { "in_person" })
            .bind(starts_at)
            .bind(length as i32)
            .bind(series_id)
            .bind((occurrence == 0).then(|| rule.clone()))
            .bind(if video { "Video visit" } else { "Office 2" })
            .execute(&mut **tx)
            .await?;
            // Statuses move along their arrows, as in the clinic.
            match status {
                "cancelled" => {
                    sqlx::query(
                        "update appointments set status = 'cancelled', cancelled_at = starts_at - interval '1 day',
                                cancel_reason = 'Client called to reschedule' where org_id = $1 and id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                }
                "no_show" | "completed" => {
                    sqlx::query("update appointments set status = $3::appointment_status where org_id = $1 and id = $2")
                        .bind(org)
                        .bind(id)
                        .bind(status)
                        .execute(&mut **tx)
                        .await?;
                }
                _ => {}
            }
            if status != "completed" {
                continue;
            }
            let minutes: i32 = if role.prescriber {
                22 + (patient.index % 5) as i32
            } else {
                [50, 52, 45, 31, 57, 48][(patient.index + occurrence as usize) % 6]
            };
            let encounter_id = plan.id(&format!("encounter/{}/{occurrence}", patient.index));
            sqlx::query(
                "insert into encounters (id, org_id, patient_id, provider_id, appointment_id, encounter_type, modality,
                                         status, scheduled_start, started_at, place_of_service)
                 values ($1, $2, $3, $4, $5, $6::encounter_type, $7::session_modality, 'in_progress', $8,
                         $8 + interval '2 minutes', $9)",
            )
            .bind(encounter_id)
            .bind(org)
            .bind(patient.id)
            .bind(clinicians[patient.clinician].provider_id)
            .bind(id)
            .bind(appointment_type)
            .bind(if video { "video" } else { "in_person" })
            .bind(starts_at)
            .bind(if video { "10" } else { "11" })
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "update encounters set status = 'completed', ended_at = started_at + make_interval(mins => $3)
                  where org_id = $1 and id = $2",
            )
            .bind(org)
            .bind(encounter_id)
            .bind(minutes)
            .execute(&mut **tx)
            .await?;
            sessions.push(Session {
                patient: patient.index,
                week,
                encounter_id,
                minutes,
                video,
                service_date: day,
            });
        }
    }
    Ok(sessions)
}

/// Note content in `format`, written for the patient's theme and the session's week.
fn note_content(format: &str, patient: &Patient, week: i64) -> Value {
    let (concern, intervention) = THEMES[patient.index % THEMES.len()];
    let name = patient.first_name;
    match format {
        "DAP" => json!({
            "data": format!("{name} reported {concern}; rated distress 6/10, down from 7 last week. Attended on time, engaged throughout."),
            "assessment": format!("Making steady progress (week {}). No safety concerns; denies SI/HI.", week + 5),
            "plan": format!("Continue weekly sessions with {intervention}. Homework: daily mood log."),
        }),
        "BIRP" => json!({
            "behavior": format!("{name} arrived calm, described {concern}, with appropriate affect."),
            "intervention": format!("Clinician used {intervention} and reviewed last week's homework."),
            "response": format!("{name} identified two alternative coping steps and agreed to practise them."),
            "plan": "Meet weekly; review practice log next session. Supervisor review per policy.",
        }),
        _ => json!({
            "subjective": format!("{name} reports {concern}; sleep about 6 hours a night."),
            "objective": "Alert and oriented, good eye contact, mood 'okay', affect congruent. No SI/HI.",
            "assessment": format!("Symptoms improving with {intervention}; continue current plan."),
            "plan": "Continue weekly psychotherapy. Next session in one week; homework assigned.",
        }),
    }
}

/// Notes for every completed session: signed (cosigned where supervision requires it), the
/// latest of some patients left as drafts to sign, one amended and one addended lineage.
async fn load_notes(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    clinicians: &[Clinician],
    patients: &[Patient],
    sessions: &[Session],
) -> anyhow::Result<()> {
    let key = demo_signing_key();
    let latest_week = |patient: usize| {
        sessions
            .iter()
            .filter(|s| s.patient == patient)
            .map(|s| s.week)
            .max()
    };
    for session in sessions {
        let patient = &patients[session.patient];
        let clinician = &clinicians[patient.clinician];
        let content = note_content(clinician.format, patient, session.week);
        let note_id = plan.id(&format!("note/{}/{}", patient.index, session.week));
        let author = clinician.provider_id;
        sqlx::query(
            "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id, format, content)
             values ($1, $2, $3, $4, $5, $1, $6::note_format, $7)",
        )
        .bind(note_id)
        .bind(plan.org_id)
        .bind(patient.id)
        .bind(session.encounter_id)
        .bind(author)
        .bind(clinician.format)
        .bind(&content)
        .execute(&mut **tx)
        .await?;
        let is_latest = latest_week(session.patient) == Some(session.week);
        if is_latest && patient.index.is_multiple_of(3) {
            continue; // a note still to sign
        }
        let signed_at = session_end(tx, plan, session.encounter_id).await? + Duration::hours(2);
        let identity = NoteVersionIdentity {
            note_id: note_id.to_string(),
            lineage_id: note_id.to_string(),
            version: 1,
            patient_id: patient.id.to_string(),
            encounter_id: session.encounter_id.to_string(),
            author_provider_id: author.to_string(),
            format: clinician.format.to_owned(),
            addendum_text: None,
        };
        let hash = note_content_hash(&identity, &content);
        sqlx::query(
            "update clinical_notes set status = 'signed', signed_at = $3, content_hash = $4 where org_id = $1 and id = $2",
        )
        .bind(plan.org_id)
        .bind(note_id)
        .bind(signed_at)
        .bind(&hash[..])
        .execute(&mut **tx)
        .await?;
        insert_signature(tx, plan, &key, note_id, author, "author", &hash, signed_at).await?;
        let supervisor = CLINICIANS[patient.clinician]
            .requires_supervision
            .then(|| clinicians[1].provider_id);
        // The latest note of a supervised clinician still waits for its cosignature.
        if let Some(supervisor) = supervisor.filter(|_| !is_latest) {
            insert_signature(
                tx,
                plan,
                &key,
                note_id,
                supervisor,
                "supervisor",
                &hash,
                signed_at + Duration::days(1),
            )
            .await?;
        }

        // The first note of patient 1 is amended, of patient 2 addended.
        let first_week = sessions
            .iter()
            .filter(|s| s.patient == session.patient)
            .map(|s| s.week)
            .min();
        if first_week == Some(session.week) && (patient.index == 1 || patient.index == 2) {
            let amendment = patient.index == 1;
            let version_id = plan.id(&format!("note/{}/{}/v2", patient.index, session.week));
            let (new_content, addendum, reason) = if amendment {
                let mut corrected = content.clone();
                if let Some(obj) = corrected.as_object_mut() {
                    for value in obj.values_mut() {
                        if let Some(text) = value.as_str() {
                            *value = Value::String(
                                text.replace("6/10", "5/10").replace("6 hours", "5 hours"),
                            );
                        }
                    }
                }
                (
                    corrected,
                    None,
                    "Corrected the reported rating, entered wrongly",
                )
            } else {
                (
                    content.clone(),
                    Some(
                        "Addendum: the patient called the next day to report the homework went well.",
                    ),
                    "Information received after signing",
                )
            };
            sqlx::query(
                "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id, version,
                                             format, content, change_kind, change_reason, addendum_text, previous_version_id)
                 values ($1, $2, $3, $4, $5, $6, 2, $7::note_format, $8, $9::note_change_kind, $10, $11, $6)",
            )
            .bind(version_id)
            .bind(plan.org_id)
            .bind(patient.id)
            .bind(session.encounter_id)
            .bind(author)
            .bind(note_id)
            .bind(clinician.format)
            .bind(&new_content)
            .bind(if amendment { "amendment" } else { "addendum" })
            .bind(reason)
            .bind(addendum)
            .execute(&mut **tx)
            .await?;
            let version_signed_at = signed_at + Duration::days(2);
            let version_identity = NoteVersionIdentity {
                note_id: version_id.to_string(),
                version: 2,
                addendum_text: addendum.map(str::to_owned),
                ..identity
            };
            let version_hash = note_content_hash(&version_identity, &new_content);
            sqlx::query(
                "update clinical_notes set status = 'signed', signed_at = $3, content_hash = $4 where org_id = $1 and id = $2",
            )
            .bind(plan.org_id)
            .bind(version_id)
            .bind(version_signed_at)
            .bind(&version_hash[..])
            .execute(&mut **tx)
            .await?;
            insert_signature(
                tx,
                plan,
                &key,
                version_id,
                author,
                "author",
                &version_hash,
                version_signed_at,
            )
            .await?;
        }
    }
    Ok(())
}

async fn session_end(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    encounter_id: Uuid,
) -> anyhow::Result<OffsetDateTime> {
    Ok(
        sqlx::query_scalar("select ended_at from encounters where org_id = $1 and id = $2")
            .bind(plan.org_id)
            .bind(encounter_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, named at the call"
)]
async fn insert_signature(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    key: &SigningKey,
    note_id: Uuid,
    signer: Uuid,
    signature_type: &str,
    hash: &[u8; 32],
    signed_at: OffsetDateTime,
) -> anyhow::Result<()> {
    // PostgreSQL keeps microseconds: sign the time as it will be stored.
    let signed_at = signed_at.replace_nanosecond(signed_at.microsecond() * 1000)?;
    let signature = sign_note(
        key,
        hash,
        &signer.to_string(),
        signature_type,
        &signing_time_text(signed_at),
    );
    sqlx::query(
        "insert into note_signatures (id, org_id, note_id, signer_provider_id, signature_type, content_hash,
                                      signature, signing_key_id, signed_at)
         values ($1, $2, $3, $4, $5::signature_type, $6, $7, $8, $9)",
    )
    .bind(plan.id(&format!("signature/{note_id}/{signature_type}")))
    .bind(plan.org_id)
    .bind(note_id)
    .bind(signer)
    .bind(signature_type)
    .bind(&hash[..])
    .bind(&signature[..])
    .bind(DEMO_SIGNING_KEY_ID)
    .bind(signed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims for insured sessions, from the oldest (paid, denied, appealed) to the newest
/// (drafts), each status reached along the claim's arrows: ready when the session is documented,
/// submitted by an 837P export, paid or denied by an 835 remittance (demo/billing.rs). A few
/// documented sessions of last week are left without a claim, for the workbench.
async fn load_claims(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    clinicians: &[Clinician],
    patients: &[Patient],
    sessions: &[Session],
) -> anyhow::Result<()> {
    let org = plan.org_id;
    billing::load_fee_schedule(tx, plan).await?;
    // The assistant uses the embedded rules model: nothing leaves the practice until an admin
    // chooses an external model.
    sqlx::query("insert into ai_settings (org_id, model_kind) values ($1, 'rules')")
        .bind(org)
        .execute(&mut **tx)
        .await?;
    let mut claims = Vec::new();
    for (n, session) in sessions.iter().enumerate() {
        let patient = &patients[session.patient];
        let Some(coverage) = &patient.coverage else {
            continue;
        };
        // Documented: a signed current note, cosigned where the clinician practises under
        // supervision (the database refuses `ready` otherwise).
        let documented: bool = sqlx::query_scalar(
            "select exists (select 1 from clinical_notes n
                             where n.org_id = $1 and n.encounter_id = $2 and n.is_current and n.status = 'signed'
                               and (not $3 or exists (select 1 from note_signatures s
                                                       where s.org_id = n.org_id and s.note_id = n.id
                                                         and s.signature_type = 'supervisor')))",
        )
        .bind(org)
        .bind(session.encounter_id)
        .bind(CLINICIANS[patient.clinician].requires_supervision)
        .fetch_one(&mut **tx)
        .await?;
        if documented && session.week == -1 && patient.index.is_multiple_of(4) {
            continue; // signed, waiting for the biller to create its claim
        }
        let signed = documented;
        let path: &[&str] = match (signed, session.week) {
            (false, _) => &["draft"],
            (true, -4) if patient.index % 4 == 1 => &["ready", "submitted", "denied", "appealed"],
            (true, -4) if patient.index % 4 == 2 => &["ready", "submitted", "denied"],
            (true, -4) => &["ready", "submitted", "accepted", "paid"],
            (true, -3) => &["ready", "submitted", "accepted"],
            (true, -2) => &["ready", "submitted"],
            (true, _) => &["ready"],
        };
        let prescriber = CLINICIANS[patient.clinician].prescriber;
        let cpt: String = if prescriber {
            "99213".to_owned()
        } else {
            sqlx::query_scalar(
                "select code from cpt_codes where category = 'psychotherapy' and time_range_minutes @> $1",
            )
            .bind(session.minutes)
            .fetch_one(&mut **tx)
            .await?
        };
        let charge = match cpt.as_str() {
            "90832" => "95.00",
            "90834" => "135.00",
            "90837" => "175.00",
            _ => "120.00",
        };
        let claim_id = plan.id(&format!("claim/{}", session.encounter_id));
        sqlx::query(
            "insert into billing_claims (id, org_id, patient_id, patient_insurance_id, rendering_provider_id, claim_number,
                                         place_of_service, prior_authorization_number, total_charge)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9::numeric)",
        )
        .bind(claim_id)
        .bind(org)
        .bind(patient.id)
        .bind(coverage.patient_insurance_id)
        .bind(clinicians[patient.clinician].provider_id)
        .bind(format!("C{:03}-{:05}", plan.position, n + 1))
        .bind(if session.video { "10" } else { "11" })
        .bind(coverage.prior_authorization.as_deref())
        .bind(charge)
        .execute(&mut **tx)
        .await?;
        for (sequence, code) in patient.diagnoses.iter().enumerate() {
            sqlx::query(
                "insert into claim_diagnoses (id, org_id, claim_id, sequence, icd10_code, patient_diagnosis_id)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(plan.id(&format!("claim/{}/dx/{sequence}", session.encounter_id)))
            .bind(org)
            .bind(claim_id)
            .bind(sequence as i16 + 1)
            .bind(code)
            .bind(plan.id(&format!("diagnosis/{}/{}", patient.index, if sequence == 0 { 0 } else { 1 })))
            .execute(&mut **tx)
            .await?;
        }
        let pointers: Vec<i32> = (1..=patient.diagnoses.len() as i32).collect();
        sqlx::query(
            "insert into claim_line_items (id, org_id, claim_id, encounter_id, line_number, cpt_code, modifiers, units,
                                           charge, service_date, place_of_service, diagnosis_pointers)
             values ($1, $2, $3, $4, 1, $5, $6, 1, $7::numeric, $8, $9, $10)",
        )
        .bind(plan.id(&format!("claim/{}/line/1", session.encounter_id)))
        .bind(org)
        .bind(claim_id)
        .bind(session.encounter_id)
        .bind(&cpt)
        .bind(if session.video { vec!["95"] } else { Vec::new() })
        .bind(charge)
        .bind(session.service_date)
        .bind(if session.video { "10" } else { "11" })
        .bind(&pointers)
        .execute(&mut **tx)
        .await?;
        if path.contains(&"ready") {
            sqlx::query("update billing_claims set status = 'ready' where org_id = $1 and id = $2")
                .bind(org)
                .bind(claim_id)
                .execute(&mut **tx)
                .await?;
        }
        claims.push(billing::DemoClaim {
            claim_id,
            claim_number: format!("C{:03}-{:05}", plan.position, n + 1),
            week: session.week,
            path,
            cpt_code: cpt.clone(),
            charge: charge.to_owned(),
            service_date: session.service_date,
            video: session.video,
        });
    }
    billing::send_and_settle(tx, plan, &claims).await
}

/// Treatment plans: two patients' plans revised once (two versions), one plan still a draft.
async fn load_treatment_plans(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    clinicians: &[Clinician],
    patients: &[Patient],
    today: Date,
) -> anyhow::Result<()> {
    for patient in patients.iter().take(3) {
        if CLINICIANS[patient.clinician].prescriber {
            continue;
        }
        let (concern, intervention) = THEMES[patient.index % THEMES.len()];
        let content = |target_days: i64, frequency: &str| {
            json!({"problems": [{
                "icd10_code": patient.diagnoses[0],
                "statement": format!("Client reports {concern}."),
                "goals": [{
                    "goal": "Reduce symptom severity",
                    "measure": "GAD-7 or PHQ-9 below 10",
                    "objectives": [{"objective": "Practise one coping skill daily", "target_date": (today + Duration::days(target_days)).to_string()}],
                }],
                "interventions": [{"intervention": intervention, "frequency": frequency}],
            }]})
        };
        let provider = clinicians[patient.clinician].provider_id;
        let v1 = plan.id(&format!("treatment-plan/{}/1", patient.index));
        let effective = today - Duration::days(100);
        let draft_only = patient.index == 2;
        sqlx::query(
            "insert into treatment_plans (id, org_id, patient_id, provider_id, lineage_id, content, effective_on, review_due_on)
             values ($1, $2, $3, $4, $1, $5, $6, $7)",
        )
        .bind(v1)
        .bind(plan.org_id)
        .bind(patient.id)
        .bind(provider)
        .bind(content(30, "weekly"))
        .bind(if draft_only { today } else { effective })
        .bind(if draft_only { today + Duration::days(90) } else { effective + Duration::days(90) })
        .execute(&mut **tx)
        .await?;
        if draft_only {
            continue;
        }
        sqlx::query("update treatment_plans set status = 'signed', signed_at = $3 where org_id = $1 and id = $2")
            .bind(plan.org_id)
            .bind(v1)
            .bind(OffsetDateTime::now_utc() - Duration::days(100))
            .execute(&mut **tx)
            .await?;
        let v2 = plan.id(&format!("treatment-plan/{}/2", patient.index));
        sqlx::query(
            "insert into treatment_plans (id, org_id, patient_id, provider_id, lineage_id, version, previous_version_id,
                                          content, effective_on, review_due_on, status, signed_at)
             values ($1, $2, $3, $4, $5, 2, $5, $6, $7, $8, 'signed', now() - interval '10 days')",
        )
        .bind(v2)
        .bind(plan.org_id)
        .bind(patient.id)
        .bind(provider)
        .bind(v1)
        .bind(content(60, "every other week"))
        .bind(today - Duration::days(10))
        .bind(today + Duration::days(if patient.index == 0 { 3 } else { 80 }))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Assistant runs of the first clinician: one committed (its note draft accepted), one waiting
/// for a clarification, one ready to commit, one failed.
async fn load_ai_runs(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    clinicians: &[Clinician],
    patients: &[Patient],
    sessions: &[Session],
    this_monday: Date,
) -> anyhow::Result<()> {
    let org = plan.org_id;
    let clinician = &clinicians[0];
    let own: Vec<&Patient> = patients.iter().filter(|p| p.clinician == 0).collect();
    let (first, second, third) = (own[0], own[1], own[2]);
    let format = clinician.format;

    // 1. Committed: the encounter existed; its note draft became the unsigned clinical note.
    let latest = sessions
        .iter()
        .filter(|s| s.patient == first.index)
        .max_by_key(|s| s.week)
        .context("the first patient has a completed session")?;
    let committed_text = format!(
        "Individual session with {} today, {} minutes. Discussed {}. Plan to continue weekly.",
        first.first_name,
        latest.minutes,
        THEMES[first.index % THEMES.len()].0
    );
    let run1 = plan.id("ai-run/1");
    insert_run(
        tx,
        plan,
        run1,
        clinician,
        Some(first.id),
        &committed_text,
        "committed",
        None,
    )
    .await?;
    insert_steps(
        tx,
        plan,
        run1,
        &committed_text,
        &["context", "model", "tool", "finish"],
    )
    .await?;
    let encounter_action = plan.id("ai-run/1/action/1");
    let draft_action = plan.id("ai-run/1/action/2");
    let billing_action = plan.id("ai-run/1/action/3");
    let span = json!([{"start": 0, "end": committed_text.len().min(60)}]);
    insert_action(tx, plan, encounter_action, run1, 1, "create_encounter", json!({"patient_id": first.id, "encounter_type": "individual_therapy", "duration_minutes": latest.minutes}), &span, None).await?;
    insert_action(
        tx,
        plan,
        draft_action,
        run1,
        2,
        "create_note_draft",
        json!({"patient_id": first.id, "format": format}),
        &span,
        Some(encounter_action),
    )
    .await?;
    insert_action(
        tx,
        plan,
        billing_action,
        run1,
        3,
        "suggest_billing",
        json!({"patient_id": first.id, "cpt": ["90834"]}),
        &span,
        Some(encounter_action),
    )
    .await?;
    let draft_note = plan.id(&format!("note/{}/{}", first.index, latest.week));
    let draft1 = plan.id("ai-run/1/draft");
    sqlx::query(
        "insert into note_drafts (id, org_id, ai_run_id, proposed_action_id, patient_id, encounter_id, provider_id, format, content, evidence)
         values ($1, $2, $3, $4, $5, $6, $7, $8::note_format, $9, $10)",
    )
    .bind(draft1)
    .bind(org)
    .bind(run1)
    .bind(draft_action)
    .bind(first.id)
    .bind(latest.encounter_id)
    .bind(clinician.provider_id)
    .bind(format)
    .bind(note_content(format, first, latest.week))
    .bind(json!({"plan": span}))
    .execute(&mut **tx)
    .await?;
    sqlx::query("update note_drafts set status = 'accepted', accepted_note_id = $3, reviewed_at = now() where org_id = $1 and id = $2")
        .bind(org)
        .bind(draft1)
        .bind(draft_note)
        .execute(&mut **tx)
        .await?;
    for (action, status, table, record) in [
        (
            encounter_action,
            "accepted",
            Some("encounters"),
            Some(latest.encounter_id),
        ),
        (draft_action, "accepted", Some("note_drafts"), Some(draft1)),
        (billing_action, "rejected", None, None),
    ] {
        sqlx::query(
            "update ai_proposed_actions set status = $3::ai_action_status, reviewed_by_user_id = $4, reviewed_at = now()
              where org_id = $1 and id = $2",
        )
        .bind(org)
        .bind(action)
        .bind(status)
        .bind(clinician.user_id)
        .execute(&mut **tx)
        .await?;
        if let (Some(table), Some(record)) = (table, record) {
            sqlx::query(
                "update ai_proposed_actions set status = 'committed', created_record_table = $3, created_record_id = $4
                  where org_id = $1 and id = $2",
            )
            .bind(org)
            .bind(action)
            .bind(table)
            .bind(record)
            .execute(&mut **tx)
            .await?;
        }
    }

    // 2. Waiting for the clinician to say which patient was meant.
    let ambiguous = format!(
        "Saw {} for 45 minutes this morning, worked on sleep hygiene.",
        second.first_name
    );
    let run2 = plan.id("ai-run/2");
    insert_run(
        tx,
        plan,
        run2,
        clinician,
        None,
        &ambiguous,
        "needs_clarification",
        None,
    )
    .await?;
    insert_steps(
        tx,
        plan,
        run2,
        &ambiguous,
        &["context", "model", "clarification"],
    )
    .await?;
    sqlx::query(
        "insert into ai_clarifications (id, org_id, run_id, step_id, question, context, options)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(plan.id("ai-run/2/clarification"))
    .bind(org)
    .bind(run2)
    .bind(plan.id(&format!("ai-step/{run2}/3")))
    .bind("Which patient was this session with?")
    .bind(json!({"candidates": [second.id, third.id]}))
    .bind(json!([
        {"value": second.id, "label": format!("{} (MRN-{:03}-{:04})", second.first_name, plan.position, 1001 + second.index)},
        {"value": third.id, "label": format!("{} (MRN-{:03}-{:04})", third.first_name, plan.position, 1001 + third.index)},
    ]))
    .execute(&mut **tx)
    .await?;

    // 3. Ready to commit: an encounter, its draft note and a follow-up appointment proposed.
    let ready_text = format!(
        "Family session with {} and her mother, 55 minutes. Book her again next Tuesday at 3.",
        third.first_name
    );
    let run3 = plan.id("ai-run/3");
    insert_run(
        tx,
        plan,
        run3,
        clinician,
        Some(third.id),
        &ready_text,
        "ready_to_commit",
        None,
    )
    .await?;
    insert_steps(
        tx,
        plan,
        run3,
        &ready_text,
        &["context", "model", "tool", "tool", "finish"],
    )
    .await?;
    let a1 = plan.id("ai-run/3/action/1");
    let a2 = plan.id("ai-run/3/action/2");
    let a3 = plan.id("ai-run/3/action/3");
    let next_tuesday = this_monday + Duration::days(8);
    insert_action(
        tx,
        plan,
        a1,
        run3,
        1,
        "create_encounter",
        json!({"patient_id": third.id, "encounter_type": "family_therapy", "duration_minutes": 55}),
        &json!([{"start": 0, "end": 40}]),
        None,
    )
    .await?;
    insert_action(
        tx,
        plan,
        a2,
        run3,
        2,
        "create_note_draft",
        json!({"patient_id": third.id, "format": format}),
        &json!([{"start": 0, "end": 40}]),
        Some(a1),
    )
    .await?;
    insert_action(
        tx,
        plan,
        a3,
        run3,
        3,
        "create_appointment",
        json!({"patient_id": third.id, "date": next_tuesday.to_string(), "time": "15:00"}),
        &json!([{"start": 41, "end": ready_text.len()}]),
        None,
    )
    .await?;
    sqlx::query(
        "insert into note_drafts (id, org_id, ai_run_id, proposed_action_id, patient_id, provider_id, format, content)
         values ($1, $2, $3, $4, $5, $6, $7::note_format, $8)",
    )
    .bind(plan.id("ai-run/3/draft"))
    .bind(org)
    .bind(run3)
    .bind(a2)
    .bind(third.id)
    .bind(clinician.provider_id)
    .bind(format)
    .bind(note_content(format, third, 0))
    .execute(&mut **tx)
    .await?;

    // 4. Failed: the model could not be reached.
    let run4 = plan.id("ai-run/4");
    insert_run(
        tx,
        plan,
        run4,
        clinician,
        None,
        "Med check for the afternoon patient, no changes.",
        "failed",
        Some("the model did not answer within 30 seconds"),
    )
    .await?;
    insert_steps(tx, plan, run4, "Med check", &["context"]).await?;
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, named at the call"
)]
async fn insert_run(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    id: Uuid,
    clinician: &Clinician,
    patient: Option<Uuid>,
    input: &str,
    final_status: &str,
    error: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "insert into ai_runs (id, org_id, requested_by_user_id, provider_id, patient_id, input_text, intent_type, model,
                              input_tokens, output_tokens, cost_usd)
         values ($1, $2, $3, $4, $5, $6, 'post_session', 'rules', $7, $8, 0)",
    )
    .bind(id)
    .bind(plan.org_id)
    .bind(clinician.user_id)
    .bind(clinician.provider_id)
    .bind(patient)
    .bind(input)
    .bind(input.len() as i32 * 2)
    .bind(input.len() as i32)
    .execute(&mut **tx)
    .await?;
    let path: &[&str] = match final_status {
        "committed" => &["running", "ready_to_commit", "committed"],
        "needs_clarification" => &["running", "needs_clarification"],
        "ready_to_commit" => &["running", "ready_to_commit"],
        _ => &["running", "failed"],
    };
    for status in path {
        sqlx::query(
            "update ai_runs set status = $3::ai_run_status,
                    started_at = coalesce(started_at, now()),
                    finished_at = case when $3 in ('ready_to_commit', 'needs_clarification', 'failed') then now() else finished_at end,
                    committed_at = case when $3 = 'committed' then now() end,
                    committed_by_user_id = case when $3 = 'committed' then requested_by_user_id end,
                    error = case when $3 = 'failed' then $4 end
              where org_id = $1 and id = $2",
        )
        .bind(plan.org_id)
        .bind(id)
        .bind(status)
        .bind(error)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_steps(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    run: Uuid,
    input: &str,
    kinds: &[&str],
) -> anyhow::Result<()> {
    let mut messages = vec![json!({"role": "user", "content": input})];
    for (n, kind) in kinds.iter().enumerate() {
        let tool = (*kind == "tool").then_some(if n == 2 { "find_patient" } else { "read_chart" });
        messages.push(json!({"role": "assistant", "step": kind, "tool": tool}));
        sqlx::query(
            "insert into ai_steps (id, org_id, run_id, step_number, kind, tool_name, messages, input_tokens, output_tokens, duration_ms)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(plan.id(&format!("ai-step/{run}/{}", n + 1)))
        .bind(plan.org_id)
        .bind(run)
        .bind(n as i32 + 1)
        .bind(kind)
        .bind(tool)
        .bind(Value::Array(messages.clone()))
        .bind(40 * (n as i32 + 1))
        .bind(12)
        .bind(3)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, named at the call"
)]
async fn insert_action(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    id: Uuid,
    run: Uuid,
    position: i32,
    action_type: &str,
    payload: Value,
    evidence: &Value,
    depends_on: Option<Uuid>,
) -> anyhow::Result<()> {
    sqlx::query(
        "insert into ai_proposed_actions (id, org_id, run_id, action_group, position, action_type, payload, evidence, depends_on_action_id)
         values ($1, $2, $3, 1, $4, $5::ai_action_type, $6, $7, $8)",
    )
    .bind(id)
    .bind(plan.org_id)
    .bind(run)
    .bind(position)
    .bind(action_type)
    .bind(payload)
    .bind(evidence)
    .bind(depends_on)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_ids_are_stable_and_distinct_per_organization() {
        assert_eq!(demo_id(1, "patient/0"), demo_id(1, "patient/0"));
        assert_ne!(demo_id(1, "patient/0"), demo_id(2, "patient/0"));
        assert_ne!(demo_id(1, "patient/0"), demo_id(1, "patient/1"));
    }

    #[test]
    fn demo_logins_are_unique_across_organizations() {
        let mut emails: Vec<String> = (1..=14)
            .flat_map(|p| OrgPlan::new(p).logins())
            .map(|l| l.email)
            .collect();
        let total = emails.len();
        emails.sort();
        emails.dedup();
        assert_eq!(emails.len(), total);
    }

    #[test]
    fn patient_names_are_unique_within_an_organization() {
        for position in 1..=6 {
            let plan = OrgPlan::new(position);
            let mut names: Vec<_> = (0..PATIENTS_PER_ORG)
                .map(|i| plan.patient_name(i))
                .collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), PATIENTS_PER_ORG);
        }
    }
}
