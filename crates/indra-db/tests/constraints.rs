//! Every rule the schema promises about a single row or a pair of rows (CHECK and EXCLUDE
//! constraints, unique indexes, composite foreign keys, status machines, deferred constraint
//! triggers) refuses the bad row with the SQLSTATE and constraint name a caller can act on, and
//! accepts the good row beside it, so that each test can fail.
//!
//! Constraints bind every role, so the rows are written as the owner (the test pool); the rules
//! about who may write are in `role_rules.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::TestDb;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgQueryResult;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const CHECK_VIOLATION: &str = "23514";
const UNIQUE_VIOLATION: &str = "23505";
const FOREIGN_KEY_VIOLATION: &str = "23503";
const EXCLUSION_VIOLATION: &str = "23P01";

/// Asserts that `result` is a database error with SQLSTATE `code` naming `constraint`.
#[track_caller]
fn expect_violation<T: std::fmt::Debug>(
    result: Result<T, sqlx::Error>,
    code: &str,
    constraint: &str,
) {
    let err = match result {
        Ok(value) => panic!("expected {code} {constraint}, but the statement succeeded: {value:?}"),
        Err(err) => err,
    };
    let db = err
        .as_database_error()
        .unwrap_or_else(|| panic!("expected {code} {constraint}, got a non-database error: {err}"));
    assert_eq!(
        (db.code().as_deref(), db.constraint()),
        (Some(code), Some(constraint)),
        "wrong error: {db}"
    );
}

/// Asserts that `result` succeeded, showing the database's message when it did not.
#[track_caller]
fn expect_ok<T>(result: Result<T, sqlx::Error>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} should be accepted: {e}"))
}

async fn only_org(pool: &PgPool) -> Uuid {
    sqlx::query_scalar("select id from organizations")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A time far from the demo's schedule (which sits around the current week), `days` from now at
/// 10:00 UTC, so new appointments collide only with each other.
async fn free_slot(pool: &PgPool, days: i32) -> OffsetDateTime {
    sqlx::query_scalar(
        "select date_trunc('day', now()) + make_interval(days => $1) + interval '10 hours'",
    )
    .bind(days)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A completed demo encounter: (org, encounter, patient, provider).
async fn demo_encounter(pool: &PgPool) -> (Uuid, Uuid, Uuid, Uuid) {
    sqlx::query_as(
        "select org_id, id, patient_id, provider_id from encounters
          where status = 'completed' order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

fn soap(subjective: Value) -> Value {
    json!({"subjective": subjective, "objective": "Calm, engaged.", "assessment": "Improving.", "plan": "Weekly."})
}

// ------------------------------------------------------------------------------------------------
// Note content matches its format

async fn insert_note(
    pool: &PgPool,
    (org, encounter, patient, author): (Uuid, Uuid, Uuid, Uuid),
    format: &str,
    content: &Value,
) -> Result<PgQueryResult, sqlx::Error> {
    // lineage_id is set by the link trigger (a first version is its own lineage).
    sqlx::query(
        "insert into clinical_notes (org_id, patient_id, encounter_id, author_provider_id, lineage_id, format, content)
         values ($1, $2, $3, $4, gen_random_uuid(), $5::note_format, $6)",
    )
    .bind(org)
    .bind(patient)
    .bind(encounter)
    .bind(author)
    .bind(format)
    .bind(content)
    .execute(pool)
    .await
}

#[tokio::test]
async fn note_content_has_exactly_the_sections_of_its_format() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let enc = demo_encounter(pool).await;
    let bad = "clinical_notes_content_check";

    expect_ok(
        insert_note(pool, enc, "SOAP", &soap(json!("Reports better sleep."))).await,
        "a SOAP note with its four sections",
    );
    let dap = json!({"data": "d", "assessment": "a", "plan": "p"});
    expect_ok(
        insert_note(pool, enc, "DAP", &dap).await,
        "a DAP note with its three sections",
    );
    let birp = json!({"behavior": "b", "intervention": "i", "response": "r", "plan": "p"});
    expect_ok(
        insert_note(pool, enc, "BIRP", &birp).await,
        "a BIRP note with its four sections",
    );

    let mut missing = soap(json!("s"));
    missing.as_object_mut().unwrap().remove("plan");
    expect_violation(
        insert_note(pool, enc, "SOAP", &missing).await,
        CHECK_VIOLATION,
        bad,
    );
    let mut extra = soap(json!("s"));
    extra["risk"] = json!("none");
    expect_violation(
        insert_note(pool, enc, "SOAP", &extra).await,
        CHECK_VIOLATION,
        bad,
    );
    for not_a_string in [json!(5), json!(null), json!(["s"]), json!({"text": "s"})] {
        expect_violation(
            insert_note(pool, enc, "SOAP", &soap(not_a_string)).await,
            CHECK_VIOLATION,
            bad,
        );
    }
    expect_violation(
        insert_note(pool, enc, "SOAP", &dap).await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(
        insert_note(pool, enc, "DAP", &birp).await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(
        insert_note(pool, enc, "SOAP", &json!(["subjective", "objective"])).await,
        CHECK_VIOLATION,
        bad,
    );

    db.close().await.unwrap();
}

#[tokio::test]
async fn note_draft_content_has_exactly_the_sections_of_its_format() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, run, patient, provider): (Uuid, Uuid, Uuid, Uuid) = sqlx::query_as(
        "select org_id, id, patient_id, provider_id from ai_runs where patient_id is not null order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let insert = |format: &'static str, content: Value| async move {
        sqlx::query(
            "insert into note_drafts (org_id, ai_run_id, patient_id, provider_id, format, content)
             values ($1, $2, $3, $4, $5::note_format, $6)",
        )
        .bind(org)
        .bind(run)
        .bind(patient)
        .bind(provider)
        .bind(format)
        .bind(content)
        .execute(pool)
        .await
    };

    expect_ok(insert("SOAP", soap(json!("s"))).await, "a SOAP draft");
    let bad = "note_drafts_content_check";
    let mut missing = soap(json!("s"));
    missing.as_object_mut().unwrap().remove("objective");
    expect_violation(insert("SOAP", missing).await, CHECK_VIOLATION, bad);
    let mut extra = soap(json!("s"));
    extra["summary"] = json!("x");
    expect_violation(insert("SOAP", extra).await, CHECK_VIOLATION, bad);
    expect_violation(insert("SOAP", soap(json!(42))).await, CHECK_VIOLATION, bad);
    expect_violation(
        insert("SOAP", json!({"data": "d", "assessment": "a", "plan": "p"})).await,
        CHECK_VIOLATION,
        bad,
    );

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// One current version per lineage
//
// The partial unique indexes `clinical_notes_one_current` and `treatment_plans_one_current` sit
// behind triggers that make them unreachable through ordinary writes:
//   * a version 1 must be its own lineage (`*_lineage_version_check`: version > 1 or
//     lineage_id = id), and the link trigger sets lineage_id := id anyway;
//   * a later version gets its lineage from the version it names in previous_version_id, and the
//     same trigger flips that version to not current (amended / addended / superseded) in the
//     same statement, or refuses when it is no longer the current signed version;
//   * the guard triggers let no superseded version become current again.
// So the tests show that the triggers keep one current version, and reach each index the only
// way there is: as a superuser with triggers switched off (session_replication_role = replica),
// inserting the very row the link trigger would have accepted after flipping its predecessor.

#[tokio::test]
async fn one_current_version_per_note_lineage() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    // A signed first version that nothing supersedes yet.
    let (org, v1, patient, encounter, author, content): (Uuid, Uuid, Uuid, Uuid, Uuid, Value) =
        sqlx::query_as(
            "select org_id, id, patient_id, encounter_id, author_provider_id, content from clinical_notes n
              where status = 'signed' and version = 1 and format = 'SOAP'
                and not exists (select 1 from clinical_notes s where s.previous_version_id = n.id)
              order by id limit 1",
        )
        .fetch_one(pool)
        .await
        .unwrap();
    let amendment = "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id,
                                                 version, previous_version_id, format, content, change_kind, change_reason)
                     values ($1, $2, $3, $4, $5, $6, 2, $6, 'SOAP', $7, 'amendment', 'Corrected the rating')";

    // Triggers off: a second current version of the lineage reaches the index.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let second_current = sqlx::query(amendment)
        .bind(Uuid::new_v4())
        .bind(org)
        .bind(patient)
        .bind(encounter)
        .bind(author)
        .bind(v1)
        .bind(&content)
        .execute(&mut *tx)
        .await;
    expect_violation(
        second_current,
        UNIQUE_VIOLATION,
        "clinical_notes_one_current",
    );
    tx.rollback().await.unwrap();

    // Triggers on: the same row is accepted, and version 1 stops being current.
    let v2 = Uuid::new_v4();
    let mut tx = pool.begin().await.unwrap();
    let inserted = sqlx::query(amendment)
        .bind(v2)
        .bind(org)
        .bind(patient)
        .bind(encounter)
        .bind(author)
        .bind(v1)
        .bind(&content)
        .execute(&mut *tx)
        .await;
    expect_ok(inserted, "an amendment of the current signed version");
    expect_ok(tx.commit().await, "committing the amendment");
    let current: Vec<(Uuid, String)> = sqlx::query_as(
        "select id, status::text from clinical_notes where org_id = $1 and lineage_id = $2 and is_current",
    )
    .bind(org)
    .bind(v1)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(current, vec![(v2, "draft".to_owned())]);

    // What the trigger does instead of the index: a second amendment of version 1 is refused...
    let again = sqlx::query(amendment)
        .bind(Uuid::new_v4())
        .bind(org)
        .bind(patient)
        .bind(encounter)
        .bind(author)
        .bind(v1)
        .bind(&content)
        .execute(pool)
        .await;
    expect_violation(again, CHECK_VIOLATION, "clinical_notes_amend_signed_only");
    // ...and a first version cannot claim an existing lineage: it becomes its own.
    let claimed: Result<Uuid, _> = sqlx::query_scalar(
        "insert into clinical_notes (org_id, patient_id, encounter_id, author_provider_id, lineage_id, format, content)
         values ($1, $2, $3, $4, $5, 'SOAP', $6) returning lineage_id",
    )
    .bind(org)
    .bind(patient)
    .bind(encounter)
    .bind(author)
    .bind(v1)
    .bind(&content)
    .fetch_one(pool)
    .await;
    assert_ne!(expect_ok(claimed, "a new first version"), v1);
    let currents: i64 = sqlx::query_scalar(
        "select count(*) from clinical_notes where org_id = $1 and lineage_id = $2 and is_current",
    )
    .bind(org)
    .bind(v1)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(currents, 1);

    db.close().await.unwrap();
}

#[tokio::test]
async fn one_current_version_per_treatment_plan_lineage() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, current, lineage, version, patient, provider, content): (
        Uuid,
        Uuid,
        Uuid,
        i32,
        Uuid,
        Uuid,
        Value,
    ) = sqlx::query_as(
        "select org_id, id, lineage_id, version, patient_id, provider_id, content from treatment_plans
          where status = 'signed' and is_current order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let revision =
        "insert into treatment_plans (id, org_id, patient_id, provider_id, lineage_id, version,
                                                 previous_version_id, content)
                    values ($1, $2, $3, $4, $5, $6, $7, $8)";
    let revise = |id: Uuid| {
        sqlx::query(revision)
            .bind(id)
            .bind(org)
            .bind(patient)
            .bind(provider)
            .bind(lineage)
            .bind(version + 1)
            .bind(current)
            .bind(content.clone())
    };

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    expect_violation(
        revise(Uuid::new_v4()).execute(&mut *tx).await,
        UNIQUE_VIOLATION,
        "treatment_plans_one_current",
    );
    tx.rollback().await.unwrap();

    let next = Uuid::new_v4();
    let mut tx = pool.begin().await.unwrap();
    expect_ok(revise(next).execute(&mut *tx).await, "a revision");
    expect_ok(tx.commit().await, "committing the revision");
    let currents: Vec<Uuid> = sqlx::query_scalar(
        "select id from treatment_plans where org_id = $1 and lineage_id = $2 and is_current",
    )
    .bind(org)
    .bind(lineage)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(currents, vec![next]);

    // The superseded version cannot be revised a second time.
    expect_violation(
        revise(Uuid::new_v4()).execute(pool).await,
        CHECK_VIOLATION,
        "treatment_plans_revise_signed_only",
    );

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Claims: diagnoses (box 21) and the pointers of service lines (box 24E)

/// A draft demo claim: (org, claim, the encounter its line 1 bills).
async fn draft_claim(pool: &PgPool) -> (Uuid, Uuid, Uuid) {
    sqlx::query_as(
        "select c.org_id, c.id, l.encounter_id from billing_claims c
           join claim_line_items l on l.org_id = c.org_id and l.claim_id = c.id and l.line_number = 1
          where c.status = 'draft' order by c.id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn claim_sequences(pool: &PgPool, org: Uuid, claim: Uuid) -> Vec<i16> {
    sqlx::query_scalar(
        "select sequence from claim_diagnoses where org_id = $1 and claim_id = $2 order by sequence",
    )
    .bind(org)
    .bind(claim)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn add_claim_diagnosis<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    org: Uuid,
    claim: Uuid,
    sequence: i16,
    code: &str,
) -> Result<PgQueryResult, sqlx::Error> {
    sqlx::query(
        "insert into claim_diagnoses (org_id, claim_id, sequence, icd10_code) values ($1, $2, $3, $4)",
    )
    .bind(org)
    .bind(claim)
    .bind(sequence)
    .bind(code)
    .execute(executor)
    .await
}

async fn add_claim_line<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    (org, claim, encounter): (Uuid, Uuid, Uuid),
    line_number: i16,
    pointers: &[Option<i32>],
) -> Result<PgQueryResult, sqlx::Error> {
    sqlx::query(
        "insert into claim_line_items (org_id, claim_id, encounter_id, line_number, cpt_code, charge,
                                       service_date, diagnosis_pointers)
         values ($1, $2, $3, $4, '90834', 135.00, current_date, $5)",
    )
    .bind(org)
    .bind(claim)
    .bind(encounter)
    .bind(line_number)
    .bind(pointers)
    .execute(executor)
    .await
}

#[tokio::test]
async fn claim_diagnosis_sequence_is_1_to_12_and_unique_per_claim() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, claim, _) = draft_claim(pool).await;
    assert!(claim_sequences(pool, org, claim).await.contains(&1));

    for sequence in [0, 13, -1] {
        expect_violation(
            add_claim_diagnosis(pool, org, claim, sequence, "F41.9").await,
            CHECK_VIOLATION,
            "claim_diagnoses_sequence_check",
        );
    }
    expect_violation(
        add_claim_diagnosis(pool, org, claim, 1, "F41.9").await,
        UNIQUE_VIOLATION,
        "claim_diagnoses_sequence_key",
    );
    expect_ok(
        add_claim_diagnosis(pool, org, claim, 12, "F41.9").await,
        "sequence 12 (L)",
    );

    db.close().await.unwrap();
}

#[tokio::test]
async fn diagnosis_pointers_are_one_to_four_distinct_numbers_1_to_12() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let line = draft_claim(pool).await;
    let bad = "claim_line_items_diagnosis_pointers_check";

    let cases: [&[Option<i32>]; 6] = [
        &[],
        &[Some(1), Some(2), Some(3), Some(4), Some(5)],
        &[Some(13)],
        &[Some(0)],
        &[Some(1), Some(1)],
        &[Some(1), None],
    ];
    for pointers in cases {
        let result = add_claim_line(pool, line, 2, pointers).await;
        assert!(result.is_err(), "pointers {pointers:?} should be refused");
        expect_violation(result, CHECK_VIOLATION, bad);
    }
    expect_ok(
        add_claim_line(pool, line, 2, &[Some(1)]).await,
        "pointing at diagnosis A",
    );

    db.close().await.unwrap();
}

#[tokio::test]
async fn a_pointer_must_name_a_diagnosis_of_the_claim_at_commit() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let line = draft_claim(pool).await;
    let (org, claim, _) = line;
    assert!(!claim_sequences(pool, org, claim).await.contains(&5));

    // Deferred: the insert itself succeeds; the commit is refused.
    let mut tx = pool.begin().await.unwrap();
    expect_ok(
        add_claim_line(&mut *tx, line, 2, &[Some(1), Some(5)]).await,
        "the statement (checked at commit)",
    );
    expect_violation(
        tx.commit().await,
        FOREIGN_KEY_VIOLATION,
        "claim_line_items_diagnosis_pointers_fkey",
    );

    // Adding diagnosis E in the same transaction makes it whole.
    let mut tx = pool.begin().await.unwrap();
    expect_ok(
        add_claim_line(&mut *tx, line, 2, &[Some(1), Some(5)]).await,
        "the line",
    );
    expect_ok(
        add_claim_diagnosis(&mut *tx, org, claim, 5, "F41.9").await,
        "diagnosis E",
    );
    expect_ok(tx.commit().await, "a line whose pointers all exist");

    db.close().await.unwrap();
}

#[tokio::test]
async fn a_diagnosis_a_line_points_at_cannot_be_removed() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, claim, _) = draft_claim(pool).await;
    let delete =
        "delete from claim_diagnoses where org_id = $1 and claim_id = $2 and sequence = $3";

    let mut tx = pool.begin().await.unwrap();
    let deleted = sqlx::query(delete)
        .bind(org)
        .bind(claim)
        .bind(1_i16)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        deleted.rows_affected(),
        1,
        "deferred: the delete itself runs"
    );
    expect_violation(
        tx.commit().await,
        FOREIGN_KEY_VIOLATION,
        "claim_line_items_diagnosis_pointers_fkey",
    );
    assert!(claim_sequences(pool, org, claim).await.contains(&1));

    // A diagnosis no line points at may go.
    expect_ok(
        add_claim_diagnosis(pool, org, claim, 11, "F41.9").await,
        "diagnosis K",
    );
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(delete)
        .bind(org)
        .bind(claim)
        .bind(11_i16)
        .execute(&mut *tx)
        .await
        .unwrap();
    expect_ok(tx.commit().await, "removing an unused diagnosis");

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// NPI check digit

#[tokio::test]
async fn provider_npi_must_carry_a_valid_check_digit() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let user: Uuid = sqlx::query_scalar(
        "insert into users (org_id, email, full_name, role)
         values ($1, 'new.clinician@riverbend-test.example', 'New Clinician', 'provider') returning id",
    )
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap();
    let insert = |npi: &'static str| {
        sqlx::query(
            "insert into providers (org_id, user_id, first_name, last_name, credentials, npi)
             values ($1, $2, 'New', 'Clinician', 'LCSW', $3)",
        )
        .bind(org)
        .bind(user)
        .bind(npi)
        .execute(pool)
    };

    for bad in ["1234567890", "123456789", "12345678931", "123456789X", ""] {
        expect_violation(insert(bad).await, CHECK_VIOLATION, "providers_npi_check");
    }
    expect_ok(insert("1234567893").await, "NPI 1234567893");

    db.close().await.unwrap();
}

#[tokio::test]
async fn organization_billing_npi_must_carry_a_valid_check_digit() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let set = |npi: &'static str| {
        sqlx::query("update organizations set billing_npi = $2 where id = $1")
            .bind(org)
            .bind(npi)
            .execute(pool)
    };

    for bad in ["1234567890", "123456789"] {
        expect_violation(
            set(bad).await,
            CHECK_VIOLATION,
            "organizations_billing_npi_check",
        );
    }
    let done = expect_ok(set("1234567893").await, "billing NPI 1234567893");
    assert_eq!(done.rows_affected(), 1);

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Scheduling

async fn book(
    pool: &PgPool,
    org: Uuid,
    patient: Uuid,
    provider: Uuid,
    starts_at: OffsetDateTime,
    minutes: i64,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "insert into appointments (org_id, patient_id, provider_id, starts_at, ends_at)
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(org)
    .bind(patient)
    .bind(provider)
    .bind(starts_at)
    .bind(starts_at + Duration::minutes(minutes))
    .fetch_one(pool)
    .await
}

/// Two distinct providers and two distinct patients of the only organization.
async fn two_providers_two_patients(pool: &PgPool) -> (Uuid, [Uuid; 2], [Uuid; 2]) {
    let org = only_org(pool).await;
    let providers: Vec<Uuid> = sqlx::query_scalar("select id from providers order by id limit 2")
        .fetch_all(pool)
        .await
        .unwrap();
    let patients: Vec<Uuid> = sqlx::query_scalar("select id from patients order by id limit 2")
        .fetch_all(pool)
        .await
        .unwrap();
    (
        org,
        [providers[0], providers[1]],
        [patients[0], patients[1]],
    )
}

#[tokio::test]
async fn no_provider_is_double_booked() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, [doctor, other_doctor], [patient, other_patient]) =
        two_providers_two_patients(pool).await;
    let ten = free_slot(pool, 500).await;
    let bad = "appointments_no_double_booking";

    let first = expect_ok(
        book(pool, org, patient, doctor, ten, 60).await,
        "10:00-11:00",
    );
    // Overlapping at either end, inside, around, or the very same slot.
    for (offset, minutes) in [(30, 60), (-30, 60), (15, 15), (-30, 120), (0, 60)] {
        expect_violation(
            book(
                pool,
                org,
                other_patient,
                doctor,
                ten + Duration::minutes(offset),
                minutes,
            )
            .await,
            EXCLUSION_VIOLATION,
            bad,
        );
    }
    // Back to back on both sides.
    expect_ok(
        book(
            pool,
            org,
            other_patient,
            doctor,
            ten + Duration::hours(1),
            60,
        )
        .await,
        "11:00-12:00 after 10:00-11:00",
    );
    expect_ok(
        book(
            pool,
            org,
            other_patient,
            doctor,
            ten - Duration::hours(1),
            60,
        )
        .await,
        "09:00-10:00 before 10:00-11:00",
    );
    // Another provider at the same time.
    expect_ok(
        book(pool, org, other_patient, other_doctor, ten, 60).await,
        "another provider, same slot",
    );
    // Once the first is cancelled, its slot is free again.
    sqlx::query(
        "update appointments set status = 'cancelled', cancelled_at = now(), cancel_reason = 'test'
          where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(first)
    .execute(pool)
    .await
    .unwrap();
    expect_ok(
        book(pool, org, other_patient, doctor, ten, 60).await,
        "the slot of a cancelled appointment",
    );

    db.close().await.unwrap();
}

#[tokio::test]
async fn recurrence_rules_are_validated() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, [doctor, _], [patient, _]) = two_providers_two_patients(pool).await;
    let starts_at = free_slot(pool, 600).await;
    let insert = |rule: Value| {
        sqlx::query(
            "insert into appointments (org_id, patient_id, provider_id, starts_at, ends_at, recurrence_rule)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org)
        .bind(patient)
        .bind(doctor)
        .bind(starts_at)
        .bind(starts_at + Duration::minutes(53))
        .bind(rule)
        .execute(pool)
    };
    let bad = "appointments_recurrence_rule_check";

    for rule in [
        json!({"FREQ": "YEARLY", "COUNT": 3}),
        json!({"FREQ": "WEEKLY", "COUNT": 6, "UNTIL": "2030-01-01"}),
        json!({"FREQ": "WEEKLY", "BYDAY": ["XX"]}),
        json!({"FREQ": "WEEKLY", "BYDAY": ["TU", "XX"]}),
        json!({"FREQ": "WEEKLY", "BYDAY": "TU"}),
        json!({"FREQ": "WEEKLY", "INTERVAL": 0}),
        json!({"FREQ": "WEEKLY", "COUNT": "6"}),
        json!({"FREQ": "WEEKLY", "WKST": "MO"}),
        json!(["FREQ", "WEEKLY"]),
    ] {
        expect_violation(insert(rule).await, CHECK_VIOLATION, bad);
    }
    expect_ok(
        insert(json!({"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6, "BYDAY": ["TU"]})).await,
        "a weekly rule",
    );

    db.close().await.unwrap();
}

/// RFC 5545 requires FREQ. A missing FREQ makes `rule ->> 'FREQ' in (...)` NULL, and a CHECK
/// accepts NULL: `app.recurrence_rule_is_valid` must answer false, not NULL (it once did not).
#[tokio::test]
async fn a_recurrence_rule_needs_freq() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, [doctor, _], [patient, _]) = two_providers_two_patients(pool).await;
    let starts_at = free_slot(pool, 650).await;
    for rule in [json!({}), json!({"COUNT": 6}), json!({"FREQ": null})] {
        let result = sqlx::query(
            "insert into appointments (org_id, patient_id, provider_id, starts_at, ends_at, recurrence_rule)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org)
        .bind(patient)
        .bind(doctor)
        .bind(starts_at)
        .bind(starts_at + Duration::minutes(53))
        .bind(&rule)
        .execute(pool)
        .await;
        expect_violation(
            result,
            CHECK_VIOLATION,
            "appointments_recurrence_rule_check",
        );
    }

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Authorized sessions

#[tokio::test]
async fn sessions_used_never_exceed_authorized_sessions() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, id, authorized): (Uuid, Uuid, i32) = sqlx::query_as(
        "select org_id, id, authorized_sessions from patient_insurance
          where authorized_sessions is not null order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let set = |used: i32| {
        sqlx::query("update patient_insurance set sessions_used = $3 where org_id = $1 and id = $2")
            .bind(org)
            .bind(id)
            .bind(used)
            .execute(pool)
    };

    expect_violation(
        set(authorized + 1).await,
        CHECK_VIOLATION,
        "patient_insurance_sessions_check",
    );
    expect_ok(set(authorized).await, "every authorized session used");
    // Lowering the authorization below what was used is refused too.
    let lower = sqlx::query(
        "update patient_insurance set authorized_sessions = sessions_used - 1 where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .execute(pool)
    .await;
    expect_violation(lower, CHECK_VIOLATION, "patient_insurance_sessions_check");

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Status machines

#[tokio::test]
async fn encounter_status_moves_only_along_its_arrows() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, completed, patient, provider) = demo_encounter(pool).await;
    let bad = "encounters_status_transition";
    let scheduled: Uuid = sqlx::query_scalar(
        "insert into encounters (org_id, patient_id, provider_id, encounter_type)
         values ($1, $2, $3, 'individual_therapy') returning id",
    )
    .bind(org)
    .bind(patient)
    .bind(provider)
    .fetch_one(pool)
    .await
    .unwrap();

    // Skipping in_progress, with every column the completed state needs.
    let skip = sqlx::query(
        "update encounters set status = 'completed', started_at = now() - interval '50 minutes', ended_at = now()
          where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(scheduled)
    .execute(pool)
    .await;
    expect_violation(skip, CHECK_VIOLATION, bad);
    let back =
        sqlx::query("update encounters set status = 'scheduled' where org_id = $1 and id = $2")
            .bind(org)
            .bind(completed)
            .execute(pool)
            .await;
    expect_violation(back, CHECK_VIOLATION, bad);

    let start = sqlx::query(
        "update encounters set status = 'in_progress', started_at = now() where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(scheduled)
    .execute(pool)
    .await;
    expect_ok(start, "scheduled -> in_progress");
    let finish = sqlx::query(
        "update encounters set status = 'completed', ended_at = started_at + interval '53 minutes'
          where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(scheduled)
    .execute(pool)
    .await;
    expect_ok(finish, "in_progress -> completed");

    db.close().await.unwrap();
}

#[tokio::test]
async fn clinical_note_status_moves_only_along_its_arrows() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, draft, author): (Uuid, Uuid, Uuid) = sqlx::query_as(
        "select org_id, id, author_provider_id from clinical_notes where status = 'draft' order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();

    let amended = sqlx::query(
        "update clinical_notes set status = 'amended', is_current = false, signed_at = now(),
                content_hash = sha256('x') where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(draft)
    .execute(pool)
    .await;
    expect_violation(amended, CHECK_VIOLATION, "clinical_notes_status_transition");

    // draft -> signed, with the author's signature (required at commit).
    let mut tx = pool.begin().await.unwrap();
    let signed = sqlx::query(
        "update clinical_notes set status = 'signed', signed_at = now(), content_hash = sha256('note')
          where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(draft)
    .execute(&mut *tx)
    .await;
    expect_ok(signed, "draft -> signed");
    sqlx::query(
        "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash,
                                      signature, signing_key_id)
         values ($1, $2, $3, 'author', sha256('note'), decode(repeat('ab', 64), 'hex'), 'test-key')",
    )
    .bind(org)
    .bind(draft)
    .bind(author)
    .execute(&mut *tx)
    .await
    .unwrap();
    expect_ok(tx.commit().await, "a signed note with its signature");

    db.close().await.unwrap();
}

#[tokio::test]
async fn claim_status_moves_only_along_its_arrows() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, draft, _) = draft_claim(pool).await;
    let paid: Uuid = sqlx::query_scalar(
        "select id from billing_claims where status = 'paid' order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let bad = "billing_claims_status_transition";
    let set = |claim: Uuid, status: &'static str| {
        sqlx::query(
            "update billing_claims set status = $3::claim_status, submitted_at = coalesce(submitted_at, now())
              where org_id = $1 and id = $2",
        )
        .bind(org)
        .bind(claim)
        .bind(status)
        .execute(pool)
    };

    // A documented claim, ready (draft -> ready on documentation: billing_claims.rs).
    let ready: Uuid = sqlx::query_scalar(
        "select id from billing_claims where status = 'ready' order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();

    expect_violation(set(draft, "submitted").await, CHECK_VIOLATION, bad);
    expect_violation(set(paid, "draft").await, CHECK_VIOLATION, bad);
    expect_violation(set(paid, "submitted").await, CHECK_VIOLATION, bad);
    expect_violation(set(ready, "draft").await, CHECK_VIOLATION, bad);
    expect_ok(set(ready, "submitted").await, "ready -> submitted");

    db.close().await.unwrap();
}

#[tokio::test]
async fn ai_run_status_moves_only_along_its_arrows() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, user, provider): (Uuid, Uuid, Uuid) = sqlx::query_as(
        "select org_id, requested_by_user_id, provider_id from ai_runs order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let run: Uuid = sqlx::query_scalar(
        "insert into ai_runs (org_id, requested_by_user_id, provider_id, input_text)
         values ($1, $2, $3, 'Session with the client today, 50 minutes.') returning id",
    )
    .bind(org)
    .bind(user)
    .bind(provider)
    .fetch_one(pool)
    .await
    .unwrap();

    let commit = sqlx::query(
        "update ai_runs set status = 'committed', committed_at = now() where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(run)
    .execute(pool)
    .await;
    expect_violation(commit, CHECK_VIOLATION, "ai_runs_status_transition");
    let start = sqlx::query(
        "update ai_runs set status = 'running', started_at = now() where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(run)
    .execute(pool)
    .await;
    expect_ok(start, "pending -> running");

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Identity

#[tokio::test]
async fn user_email_is_unique_without_case_across_organizations() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let taken: String = sqlx::query_scalar("select email::text from users where role = 'admin'")
        .fetch_one(pool)
        .await
        .unwrap();
    let other_org: Uuid = sqlx::query_scalar(
        "insert into organizations (name) values ('Other Practice') returning id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let insert = |org: Uuid, email: String| {
        sqlx::query(
            "insert into users (org_id, email, full_name, role) values ($1, $2, 'Someone', 'staff')",
        )
        .bind(org)
        .bind(email)
        .execute(pool)
    };

    for target in [org, other_org] {
        for email in [taken.clone(), taken.to_uppercase()] {
            expect_violation(
                insert(target, email).await,
                UNIQUE_VIOLATION,
                "users_email_key",
            );
        }
    }
    expect_ok(
        insert(other_org, format!("other.{taken}")).await,
        "a new address",
    );

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// References stay inside one patient and one organization

#[tokio::test]
async fn a_notes_encounter_is_of_the_same_patient() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, encounter, patient, author) = demo_encounter(pool).await;
    let other_patient: Uuid = sqlx::query_scalar(
        "select id from patients where org_id = $1 and id <> $2 order by id limit 1",
    )
    .bind(org)
    .bind(patient)
    .fetch_one(pool)
    .await
    .unwrap();
    let content = soap(json!("s"));

    expect_violation(
        insert_note(
            pool,
            (org, encounter, other_patient, author),
            "SOAP",
            &content,
        )
        .await,
        FOREIGN_KEY_VIOLATION,
        "clinical_notes_org_id_encounter_id_patient_id_fkey",
    );
    expect_ok(
        insert_note(pool, (org, encounter, patient, author), "SOAP", &content).await,
        "a note of the encounter's own patient",
    );

    db.close().await.unwrap();
}

#[tokio::test]
async fn a_row_cannot_reference_another_organizations_row() {
    let db = TestDb::with_demo(2).await.unwrap();
    let pool = &db.pool;
    let orgs: Vec<Uuid> = sqlx::query_scalar("select id from organizations order by id")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(orgs.len(), 2);
    let (a, b) = (orgs[0], orgs[1]);
    let first = |table: &'static str, org: Uuid| async move {
        sqlx::query_scalar::<_, Uuid>(&format!(
            "select id from {table} where org_id = $1 order by id limit 1"
        ))
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let (provider_a, patient_a, patient_b) = (
        first("providers", a).await,
        first("patients", a).await,
        first("patients", b).await,
    );
    let provider_b = first("providers", b).await;
    let encounter = |patient: Uuid, provider: Uuid| {
        sqlx::query(
            "insert into encounters (org_id, patient_id, provider_id, encounter_type)
             values ($1, $2, $3, 'intake')",
        )
        .bind(a)
        .bind(patient)
        .bind(provider)
        .execute(pool)
    };

    expect_violation(
        encounter(patient_b, provider_a).await,
        FOREIGN_KEY_VIOLATION,
        "encounters_org_id_patient_id_fkey",
    );
    expect_violation(
        encounter(patient_a, provider_b).await,
        FOREIGN_KEY_VIOLATION,
        "encounters_org_id_provider_id_fkey",
    );
    expect_ok(
        encounter(patient_a, provider_a).await,
        "an encounter of the organization's own patient and provider",
    );

    // A claim line of organization A billing an encounter of organization B (on a draft: the
    // lines of a claim past draft are frozen, which would answer first).
    let claim_a: Uuid = sqlx::query_scalar(
        "select id from billing_claims where org_id = $1 and status = 'draft' order by id limit 1",
    )
    .bind(a)
    .fetch_one(pool)
    .await
    .unwrap();
    let encounter_b: Uuid = first("encounters", b).await;
    expect_violation(
        add_claim_line(pool, (a, claim_a, encounter_b), 9, &[Some(1)]).await,
        FOREIGN_KEY_VIOLATION,
        "claim_line_items_org_id_encounter_id_fkey",
    );

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Diagnoses

#[tokio::test]
async fn only_billable_icd10_codes_describe_a_patient() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, patient): (Uuid, Uuid) =
        sqlx::query_as("select org_id, id from patients order by id limit 1")
            .fetch_one(pool)
            .await
            .unwrap();
    let insert = |code: &'static str| {
        sqlx::query(
            "insert into patient_diagnoses (org_id, patient_id, icd10_code) values ($1, $2, $3)",
        )
        .bind(org)
        .bind(patient)
        .bind(code)
        .execute(pool)
    };

    for category in ["F32", "F43.1"] {
        expect_violation(
            insert(category).await,
            CHECK_VIOLATION,
            "patient_diagnoses_billable_code",
        );
    }
    expect_ok(insert("F32.9").await, "the billable code F32.9");

    // Changing a diagnosis to a category is refused as well.
    let change = sqlx::query(
        "update patient_diagnoses set icd10_code = 'F33' where org_id = $1 and patient_id = $2 and icd10_code = 'F32.9'",
    )
    .bind(org)
    .bind(patient)
    .execute(pool)
    .await;
    expect_violation(change, CHECK_VIOLATION, "patient_diagnoses_billable_code");

    db.close().await.unwrap();
}

#[tokio::test]
async fn at_most_one_primary_active_diagnosis_per_patient() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, patient, primary): (Uuid, Uuid, Uuid) = sqlx::query_as(
        "select org_id, patient_id, id from patient_diagnoses
          where is_primary and status = 'active' order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let insert_primary = || {
        sqlx::query(
            "insert into patient_diagnoses (org_id, patient_id, icd10_code, is_primary) values ($1, $2, 'F41.9', true)",
        )
        .bind(org)
        .bind(patient)
        .execute(pool)
    };

    expect_violation(
        insert_primary().await,
        UNIQUE_VIOLATION,
        "patient_diagnoses_one_primary",
    );
    let secondary = sqlx::query(
        "insert into patient_diagnoses (org_id, patient_id, icd10_code, is_primary) values ($1, $2, 'F41.9', false)",
    )
    .bind(org)
    .bind(patient)
    .execute(pool)
    .await;
    expect_ok(secondary, "a second, not primary, diagnosis");
    let promote = sqlx::query(
        "update patient_diagnoses set is_primary = true
          where org_id = $1 and patient_id = $2 and icd10_code = 'F41.9'",
    )
    .bind(org)
    .bind(patient)
    .execute(pool)
    .await;
    expect_violation(promote, UNIQUE_VIOLATION, "patient_diagnoses_one_primary");

    // Once the old primary is resolved, another may be primary.
    sqlx::query(
        "update patient_diagnoses set status = 'resolved', resolved_on = current_date where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(primary)
    .execute(pool)
    .await
    .unwrap();
    let promote = sqlx::query(
        "update patient_diagnoses set is_primary = true
          where org_id = $1 and patient_id = $2 and icd10_code = 'F41.9'",
    )
    .bind(org)
    .bind(patient)
    .execute(pool)
    .await;
    expect_ok(promote, "a primary diagnosis once the old one is resolved");

    db.close().await.unwrap();
}

/// A practice keeps at least one active admin: the last one cannot be demoted or deactivated.
#[tokio::test]
async fn the_last_active_admin_stays() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let admin: Uuid = sqlx::query_scalar("select id from users where role = 'admin'")
        .fetch_one(pool)
        .await
        .unwrap();
    for change in [
        "update users set role = 'staff' where id = $1",
        "update users set is_active = false, deactivated_at = now() where id = $1",
    ] {
        let result = sqlx::query(change).bind(admin).execute(pool).await;
        expect_violation(result, CHECK_VIOLATION, "users_last_admin");
    }
    // With a second admin, the first may step down.
    sqlx::query("update users set role = 'admin' where role = 'billing'")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("update users set role = 'staff' where id = $1")
        .bind(admin)
        .execute(pool)
        .await
        .unwrap();
    db.close().await.unwrap();
}
