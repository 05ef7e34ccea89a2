//! `indra demo --scale`: the bulk load, with its triggers off, leaves exactly what the triggers
//! and constraints would have allowed: the requested shape, every foreign key resolved, notes
//! that verify, claims that follow the billing rules, an audit chain per organization that
//! verifies (and breaks when a row is altered), the organization wall, and reruns that add
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use indra_db::audit::verify_audit_chains;
use indra_db::demo::scale::{ScaleOptions, ScaleSummary, load_scale, scale_org_id};
use indra_db::testing::{DEMO_TEST_PASSWORD, TestDb};
use indra_rules::audit::chain::BreakKind;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const PATIENTS: u32 = 200;
const ORGS: u32 = 2;

/// The tables the load fills, each with one audit row per row.
const AUDITED: &[&str] = &[
    "organizations",
    "users",
    "providers",
    "patients",
    "insurance_payers",
    "patient_insurance",
    "patient_diagnoses",
    "appointments",
    "encounters",
    "clinical_notes",
    "note_signatures",
    "billing_claims",
    "claim_diagnoses",
    "claim_line_items",
    "fee_schedule_entries",
    "ai_settings",
];

fn options(orgs: u32) -> ScaleOptions {
    ScaleOptions {
        orgs,
        patients_per_org: PATIENTS,
        jobs: 2,
    }
}

async fn load(pool: &PgPool, orgs: u32) -> ScaleSummary {
    load_scale(pool, options(orgs), DEMO_TEST_PASSWORD, |_, _| {})
        .await
        .unwrap()
}

/// A database holding scale organizations 1 and 2 (200 patients each), loaded once per day and
/// per version of the loader, then cloned for each test.
async fn scale_db() -> TestDb {
    let mut fingerprint = time::OffsetDateTime::now_utc()
        .date()
        .to_string()
        .into_bytes();
    for source in [
        include_str!("../src/demo/scale/mod.rs"),
        include_str!("../src/demo/scale/plan.rs"),
        include_str!("../src/demo/scale/load.rs"),
        include_str!("../src/demo/scale/audit.rs"),
        include_str!("../src/demo/scale/notes.rs"),
        include_str!("../src/demo/scale/copy_text.rs"),
    ] {
        fingerprint.extend_from_slice(source.as_bytes());
    }
    TestDb::with_seed("scale2x200", &fingerprint, |pool| async move {
        load_scale(&pool, options(ORGS), DEMO_TEST_PASSWORD, |_, _| {})
            .await
            .map(drop)
    })
    .await
    .unwrap()
}

async fn count(pool: &PgPool, sql: &str, org: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn each_organization_has_the_requested_shape() {
    let db = scale_db().await;
    let pool = &db.pool;
    for position in 1..=ORGS {
        let org = scale_org_id(position);
        let name: String = sqlx::query_scalar("select name from organizations where id = $1")
            .bind(org)
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(name, format!("Scale Practice {position:03}"));
        let q = |table: &str| format!("select count(*) from {table} where org_id = $1");
        assert_eq!(count(pool, &q("patients"), org).await, i64::from(PATIENTS));
        assert_eq!(count(pool, &q("providers"), org).await, 25);
        assert_eq!(count(pool, &q("users"), org).await, 28);
        // Five sessions per patient, plus this week's completed calendar sessions.
        assert_eq!(
            count(
                pool,
                "select count(*) from patients p where p.org_id = $1
                   and (select count(*) from encounters e where e.org_id = p.org_id and e.patient_id = p.id) < 5",
                org
            )
            .await,
            0
        );
        let encounters = count(pool, &q("encounters"), org).await;
        let this_week = count(
            pool,
            "select count(*) from encounters e join appointments a on a.org_id = e.org_id and a.id = e.appointment_id
               join organizations o on o.id = e.org_id
              where e.org_id = $1
                and a.starts_at >= date_trunc('week', now() at time zone o.time_zone) at time zone o.time_zone",
            org,
        )
        .await;
        assert_eq!(encounters, 5 * i64::from(PATIENTS) + this_week);
        // A note for every session, most signed, a few recent drafts; one author signature per
        // signed note and the supervisor's beside some.
        assert_eq!(count(pool, &q("clinical_notes"), org).await, encounters);
        let drafts = count(
            pool,
            &format!("{} and status = 'draft'", q("clinical_notes")),
            org,
        )
        .await;
        assert!(
            drafts > 0 && drafts * 10 < encounters,
            "{drafts} drafts of {encounters}"
        );
        assert_eq!(
            count(
                pool,
                &format!("{} and signature_type = 'author'", q("note_signatures")),
                org
            )
            .await,
            encounters - drafts
        );
        assert!(
            count(
                pool,
                &format!("{} and signature_type = 'supervisor'", q("note_signatures")),
                org
            )
            .await
                > 0
        );
        // Every completed appointment has its encounter, and every booked encounter a completed
        // appointment.
        assert_eq!(
            count(
                pool,
                "select count(*) from appointments a where a.org_id = $1 and a.status = 'completed'
                   and not exists (select 1 from encounters e where e.org_id = a.org_id and e.appointment_id = a.id)",
                org
            )
            .await,
            0
        );
        assert_eq!(
            count(
                pool,
                "select count(*) from encounters e join appointments a on a.org_id = e.org_id and a.id = e.appointment_id
                  where e.org_id = $1 and a.status <> 'completed'",
                org
            )
            .await,
            0
        );
        // The weeks ahead are booked (15 to 40 a provider-week at full caseloads: plan.rs's
        // tests; these 8-patient caseloads book in proportion).
        let ahead = count(
            pool,
            "select count(*) from appointments where org_id = $1 and status = 'scheduled'
               and starts_at >= now() and starts_at < now() + interval '28 days'",
            org,
        )
        .await;
        assert!((25..=4 * 40 * 25).contains(&ahead), "{ahead} booked ahead");
        assert_eq!(
            count(pool, &q("claim_line_items"), org).await,
            count(pool, &q("billing_claims"), org).await
        );
        assert!(count(pool, &q("patient_insurance"), org).await > i64::from(PATIENTS) / 2);
        assert!(count(pool, &q("patient_diagnoses"), org).await >= i64::from(PATIENTS));
    }
    // Claims in every status, mostly paid and submitted (both organizations: a 200-patient
    // practice bills about 80 sessions in twelve weeks).
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("select status::text, count(*) from billing_claims group by 1")
            .fetch_all(pool)
            .await
            .unwrap();
    let of = |s: &str| statuses.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    for status in ["draft", "ready", "submitted", "paid", "denied"] {
        assert!(of(status) > 0, "no {status} claim: {statuses:?}");
    }
    assert!(
        of("paid") + of("submitted") > of("draft") + of("ready"),
        "{statuses:?}"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn the_summary_counts_what_is_in_the_database() {
    let db = TestDb::new().await.unwrap();
    let summary = load(&db.pool, 1).await;
    assert_eq!(summary.loaded.len(), 1);
    for table in &summary.tables {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from public.{}", table.table))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(rows as u64, table.rows, "{}", table.table);
    }
    let audit_rows: i64 = sqlx::query_scalar("select count(*) from audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(audit_rows, summary.audit_rows);
    db.close().await.unwrap();
}

#[tokio::test]
async fn every_row_has_one_audit_row_and_every_chain_verifies() {
    let db = scale_db().await;
    let pool = &db.pool;
    let reports = verify_audit_chains(pool, None).await.unwrap();
    assert_eq!(reports.len(), ORGS as usize);
    for report in &reports {
        assert!(report.is_ok(), "{report:?}");
        let org = report.org_id;
        let mut rows = 0;
        for table in AUDITED {
            let column = if *table == "organizations" {
                "id"
            } else {
                "org_id"
            };
            let in_table = count(
                pool,
                &format!("select count(*) from {table} where {column} = $1"),
                org,
            )
            .await;
            let audited = count(
                pool,
                &format!("select count(*) from audit_log where org_id = $1 and table_name = '{table}' and action = 'INSERT'"),
                org,
            )
            .await;
            assert_eq!(audited, in_table, "{table}");
            rows += in_table;
            // The audit row holds the row as stored, as the trigger would have (ai_settings has
            // no id: one row per organization).
            let same_row = if *table == "ai_settings" {
                "a.record_id is null"
            } else {
                "a.record_id = t.id"
            };
            let matching = count(
                pool,
                &format!(
                    "select count(*) from {table} t join audit_log a on a.org_id = $1 and a.table_name = '{table}'
                       and {same_row} where t.{column} = $1 and a.new_data = to_jsonb(t)"
                ),
                org,
            )
            .await;
            assert_eq!(
                matching, in_table,
                "{table}: audit rows that are not the row as stored"
            );
        }
        assert_eq!(report.rows as i64, rows);
        // The patient of each patient-linked row, as app.audit_row derives it.
        for (table, patient) in [
            ("patients", "t.id"),
            ("encounters", "t.patient_id"),
            (
                "note_signatures",
                "(select n.patient_id from clinical_notes n where n.org_id = t.org_id and n.id = t.note_id)",
            ),
            (
                "claim_line_items",
                "(select c.patient_id from billing_claims c where c.org_id = t.org_id and c.id = t.claim_id)",
            ),
        ] {
            let wrong = count(
                pool,
                &format!(
                    "select count(*) from {table} t join audit_log a on a.org_id = t.org_id and a.table_name = '{table}'
                       and a.record_id = t.id where t.org_id = $1 and a.patient_id is distinct from {patient}"
                ),
                org,
            )
            .await;
            assert_eq!(wrong, 0, "{table}");
        }
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn an_altered_audit_row_breaks_the_chain() {
    let db = scale_db().await;
    let pool = &db.pool;
    let org = scale_org_id(2);
    // The log refuses UPDATE, even to its owner...
    let refused =
        sqlx::query("update audit_log set request_id = 'edited' where org_id = $1 and seq = 100")
            .bind(org)
            .execute(pool)
            .await;
    assert!(refused.is_err());
    // ...so alter a row as a superuser with triggers off.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let altered = sqlx::query(
        "update audit_log set new_data = jsonb_set(new_data, '{last_name}', '\"Altered\"')
          where org_id = $1 and table_name = 'patients' and seq = (select min(seq) from audit_log
                where org_id = $1 and table_name = 'patients') + 5",
    )
    .bind(org)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(altered.rows_affected(), 1);
    tx.commit().await.unwrap();
    let reports = verify_audit_chains(pool, None).await.unwrap();
    let broken = reports.iter().find(|r| r.org_id == org).unwrap();
    let fault = broken.broken.as_ref().expect("the altered chain is broken");
    assert_eq!(fault.kind, BreakKind::Altered);
    let other = reports
        .iter()
        .find(|r| r.org_id == scale_org_id(1))
        .unwrap();
    assert!(other.is_ok(), "the other organization's chain is untouched");
    db.close().await.unwrap();
}

#[tokio::test]
async fn notes_verify() {
    // A smaller load than the others: every signature is checked, and Ed25519 is slow in an
    // unoptimized build.
    let db = TestDb::new().await.unwrap();
    let pool = &db.pool;
    load_scale(
        pool,
        ScaleOptions {
            orgs: 1,
            patients_per_org: 60,
            jobs: 1,
        },
        DEMO_TEST_PASSWORD,
        |_, _| {},
    )
    .await
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let summary = indra_db::clinical::verify_notes(&mut conn, None, |_| {})
        .await
        .unwrap();
    drop(conn);
    assert!(summary.is_ok(), "{summary:?}");
    let notes: i64 = sqlx::query_scalar("select count(*) from clinical_notes")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(summary.versions as i64, notes);
    let signatures: i64 = sqlx::query_scalar("select count(*) from note_signatures")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(summary.signatures as i64, signatures);
    db.close().await.unwrap();
}

#[tokio::test]
async fn notes_and_claims_follow_the_record_and_billing_rules() {
    // A practice large enough that last week's sessions include notes still to sign or cosign
    // whose claims must stay drafts: the rules below are then tested, not vacuously true.
    let db = TestDb::new().await.unwrap();
    let pool = &db.pool;
    load_scale(
        pool,
        ScaleOptions {
            orgs: 1,
            patients_per_org: 1_000,
            jobs: 1,
        },
        DEMO_TEST_PASSWORD,
        |_, _| {},
    )
    .await
    .unwrap();
    let undocumented_claims: i64 = sqlx::query_scalar(
        "select count(*) from billing_claims c cross join lateral app.claim_line_documentation(c.org_id, array[c.id]) d
          where not (d.note_signed and (d.cosigned or not d.needs_cosignature))",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        undocumented_claims > 0,
        "no claim of an undocumented session to test the rule on"
    );
    for (rule, sql) in [
        (
            "a signed note carries its author's signature",
            "select count(*) from clinical_notes n where n.status <> 'draft' and not exists (
                select 1 from note_signatures s where s.org_id = n.org_id and s.note_id = n.id and s.signature_type = 'author')",
        ),
        (
            "a supervisor signs only notes of the clinicians they supervise",
            "select count(*) from note_signatures s join clinical_notes n on n.org_id = s.org_id and n.id = s.note_id
               join providers p on p.org_id = n.org_id and p.id = n.author_provider_id
              where s.signature_type = 'supervisor' and s.signer_provider_id is distinct from p.supervisor_id",
        ),
        (
            "a claim past draft bills completed, documented sessions of its patient",
            "select count(*) from billing_claims c cross join lateral app.claim_line_documentation(c.org_id, array[c.id]) d
              where c.status <> 'draft'
                and not (d.completed and d.same_patient and d.note_signed and (d.cosigned or not d.needs_cosignature))",
        ),
        (
            "a claim's total is the sum of its lines",
            "select count(*) from billing_claims c where c.total_charge <> (select coalesce(sum(l.charge), 0)
                from claim_line_items l where l.org_id = c.org_id and l.claim_id = c.id)",
        ),
        (
            "every diagnosis pointer names a diagnosis of the claim",
            "select count(*) from claim_line_items l cross join lateral unnest(l.diagnosis_pointers) p
              where not exists (select 1 from claim_diagnoses d where d.org_id = l.org_id and d.claim_id = l.claim_id and d.sequence = p)",
        ),
        (
            "a claim's diagnoses are on the patient's record",
            "select count(*) from claim_diagnoses d join billing_claims c on c.org_id = d.org_id and c.id = d.claim_id
              where not app.is_patient_diagnosis(c.org_id, c.patient_id, d.icd10_code)",
        ),
        (
            "a patient's diagnoses are billable codes",
            "select count(*) from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code where not c.is_billable",
        ),
        (
            "a claim sent has been submitted, an adjudicated one adjudicated",
            "select count(*) from billing_claims where (status not in ('draft', 'ready') and submitted_at is null)
                or (status in ('accepted', 'denied', 'paid', 'appealed') and adjudicated_at is null)",
        ),
        (
            "nothing happened after the load",
            "select (select count(*) from encounters where ended_at > now())
                  + (select count(*) from note_signatures where signed_at > now())
                  + (select count(*) from billing_claims where updated_at > now())",
        ),
    ] {
        let broken: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
        assert_eq!(broken, 0, "{rule}");
    }
    db.close().await.unwrap();
}

/// A foreign key: its name, the referring and referred tables, and their columns in order.
type ForeignKey = (String, String, String, Vec<String>, Vec<String>);

#[tokio::test]
async fn every_foreign_key_resolves() {
    let db = scale_db().await;
    let pool = &db.pool;
    // The foreign keys' own triggers did not fire during the load: check each one here.
    let keys: Vec<ForeignKey> = sqlx::query_as(
        "select c.conname::text, c.conrelid::regclass::text, c.confrelid::regclass::text,
                array(select quote_ident(a.attname) from unnest(c.conkey) with ordinality k(n, i)
                       join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i),
                array(select quote_ident(a.attname) from unnest(c.confkey) with ordinality k(n, i)
                       join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i)
           from pg_constraint c
          where c.contype = 'f' and c.connamespace in ('public'::regnamespace, 'indra_auth'::regnamespace)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(keys.len() > 30, "{} foreign keys", keys.len());
    for (name, child, parent, columns, referenced) in keys {
        let present = columns
            .iter()
            .map(|c| format!("c.{c} is not null"))
            .collect::<Vec<_>>()
            .join(" and ");
        let matches = columns
            .iter()
            .zip(&referenced)
            .map(|(c, p)| format!("p.{p} = c.{c}"))
            .collect::<Vec<_>>()
            .join(" and ");
        let orphans: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {child} c where {present} and not exists (select 1 from {parent} p where {matches})"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(orphans, 0, "{name}: {child} -> {parent}");
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_clinician_sees_only_their_own_practice() {
    let db = scale_db().await;
    let pool = &db.pool;
    let (one, two) = (scale_org_id(1), scale_org_id(2));
    let auth_id: Uuid = sqlx::query_scalar(
        "select auth_id from users where email = 'clinician1@org001.scale.indra.test'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local role authenticated")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(
            json!({"sub": auth_id, "role": "authenticated", "org_id": one, "user_role": "provider"})
                .to_string(),
        )
        .execute(&mut *tx)
        .await
        .unwrap();
    let (own, other): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where org_id = $1), count(*) filter (where org_id = $2) from patients",
    )
    .bind(one)
    .bind(two)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!((own, other), (i64::from(PATIENTS), 0));
    let found: i64 = sqlx::query_scalar(
        "select count(*) from app.search_patients(array['kettring'], null, '', 200) s
          where not exists (select 1 from patients p where p.id = s.id)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(found, 0, "search finds only patients the clinician may see");
    let other_notes: i64 =
        sqlx::query_scalar("select count(*) from clinical_notes where org_id = $1")
            .bind(two)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(other_notes, 0);
    tx.rollback().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn logins_use_the_demo_password() {
    let db = scale_db().await;
    let hashes: Vec<(String, String)> = sqlx::query_as(
        "select u.email::text, c.password_hash from users u
           join indra_auth.password_credentials c on c.auth_id = u.auth_id
          where u.email in ('admin@org001.scale.indra.test', 'clinician25@org002.scale.indra.test',
                            'billing@org002.scale.indra.test', 'frontdesk@org001.scale.indra.test')",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(hashes.len(), 4);
    for (email, hash) in hashes {
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(DEMO_TEST_PASSWORD.as_bytes(), &parsed)
                .is_ok(),
            "{email}"
        );
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn loading_again_adds_only_the_missing_organizations_and_leaves_no_trigger_off() {
    let db = scale_db().await;
    let pool = &db.pool;
    let head_before: (i64, Vec<u8>) =
        sqlx::query_as("select last_seq, last_hash from audit_chain_heads where org_id = $1")
            .bind(scale_org_id(1))
            .fetch_one(pool)
            .await
            .unwrap();
    let summary = load_scale(
        pool,
        ScaleOptions {
            orgs: 3,
            patients_per_org: 20,
            jobs: 1,
        },
        DEMO_TEST_PASSWORD,
        |_, _| {},
    )
    .await
    .unwrap();
    let positions = |orgs: &[indra_db::demo::scale::ScaleOrganization]| {
        orgs.iter().map(|o| o.position).collect::<Vec<_>>()
    };
    assert_eq!(positions(&summary.already_present), vec![1, 2]);
    assert_eq!(positions(&summary.loaded), vec![3]);
    let head_after: (i64, Vec<u8>) =
        sqlx::query_as("select last_seq, last_hash from audit_chain_heads where org_id = $1")
            .bind(scale_org_id(1))
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(head_before, head_after);
    let organizations: i64 = sqlx::query_scalar("select count(*) from organizations")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(organizations, 3);
    assert!(
        verify_audit_chains(pool, None)
            .await
            .unwrap()
            .iter()
            .all(|r| r.is_ok())
    );

    // The load's replica role was local to its transactions: every trigger fires again.
    let role: String = sqlx::query_scalar("select current_setting('session_replication_role')")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(role, "origin");
    let disabled: Vec<String> =
        sqlx::query_scalar("select tgname::text from pg_trigger where tgenabled <> 'O'")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(disabled, Vec::<String>::new());
    // And they do: a new row of a loaded organization is audited by the trigger, on its chain.
    sqlx::query("update patients set phone = '555-9999' where org_id = $1 and mrn = 'S001-000001'")
        .bind(scale_org_id(1))
        .execute(pool)
        .await
        .unwrap();
    let head: i64 = sqlx::query_scalar("select last_seq from audit_chain_heads where org_id = $1")
        .bind(scale_org_id(1))
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(head, head_before.0 + 1);
    assert!(
        verify_audit_chains(pool, None)
            .await
            .unwrap()
            .iter()
            .all(|r| r.is_ok())
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_column_the_loader_does_not_know_stops_the_load() {
    // Its audit rows would not be the rows as stored: better no load than a wrong one.
    let db = TestDb::new().await.unwrap();
    sqlx::raw_sql("alter table patients add column nickname text")
        .execute(&db.pool)
        .await
        .unwrap();
    let error = load_scale(
        &db.pool,
        ScaleOptions {
            orgs: 1,
            patients_per_org: 10,
            jobs: 1,
        },
        DEMO_TEST_PASSWORD,
        |_, _| {},
    )
    .await
    .expect_err("the load stops");
    let message = format!("{error:#}");
    assert!(
        message.contains("writes patients as") && message.contains("nickname"),
        "{message}"
    );
    // Nothing of the organization stays behind.
    let organizations: i64 = sqlx::query_scalar("select count(*) from organizations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(organizations, 0);
    db.close().await.unwrap();
}
