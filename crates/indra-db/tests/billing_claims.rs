//! The claim's rules in the database (migration 0018): the status arrows with voiding, `ready`
//! only for documented sessions and recorded diagnoses, lines frozen after draft, the total kept,
//! authorization counting (with the admin's override, the give-back on void and two billers racing
//! for the last session), and claims created from encounters.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::billing::{ClaimCreation, create_claims_from_encounters};
use indra_db::testing::TestDb;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

const CHECK_VIOLATION: &str = "23514";
const INSUFFICIENT_PRIVILEGE: &str = "42501";

#[track_caller]
fn expect_violation<T: std::fmt::Debug>(
    result: Result<T, sqlx::Error>,
    code: &str,
    constraint: &str,
) -> String {
    let err = match result {
        Ok(value) => panic!("expected {code} {constraint}, but it succeeded: {value:?}"),
        Err(err) => err,
    };
    let db = err
        .as_database_error()
        .unwrap_or_else(|| panic!("expected {code} {constraint}, got {err}"));
    assert_eq!(
        (db.code().as_deref(), db.constraint()),
        (Some(code), Some(constraint)),
        "wrong error: {db}"
    );
    db.message().to_owned()
}

#[track_caller]
fn expect_ok<T>(result: Result<T, sqlx::Error>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what} should be accepted: {e}"))
}

/// A transaction as the demo user of `role` in `org`, as the server opens one per request.
async fn begin_as<'a>(pool: &'a PgPool, org: Uuid, role: &str) -> Transaction<'a, Postgres> {
    let auth_id: Uuid = sqlx::query_scalar(
        "select auth_id from users where org_id = $1 and role = $2::user_role order by email limit 1",
    )
    .bind(org)
    .bind(role)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local role authenticated")
        .execute(&mut *tx)
        .await
        .unwrap();
    let claims = json!({"sub": auth_id, "role": "authenticated", "org_id": org, "user_role": role});
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(claims.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

async fn set_status<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    claim: Uuid,
    status: &str,
) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    sqlx::query(
        "update billing_claims set status = $2::claim_status,
                void_reason = case when $2 = 'voided' then 'Entered for the wrong patient' else void_reason end
          where id = $1",
    )
    .bind(claim)
    .bind(status)
    .execute(executor)
    .await
}

async fn status_of(pool: &PgPool, claim: Uuid) -> String {
    sqlx::query_scalar("select status::text from billing_claims where id = $1")
        .bind(claim)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn claims_in(pool: &PgPool, status: &str) -> Vec<Uuid> {
    sqlx::query_scalar("select id from billing_claims where status = $1::claim_status order by id")
        .bind(status)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Completed, documented sessions of insured patients that are on no claim: the workbench's work.
async fn sessions_to_bill(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar(
        "select e.id from encounters e
          where e.status = 'completed'
            and exists (select 1 from clinical_notes n where n.org_id = e.org_id and n.encounter_id = e.id
                          and n.is_current and n.status = 'signed')
            and exists (select 1 from patient_insurance pi where pi.org_id = e.org_id and pi.patient_id = e.patient_id
                          and pi.priority = 'primary' and pi.is_active)
            and not exists (select 1 from claim_line_items l where l.org_id = e.org_id and l.encounter_id = e.id)
            and not exists (select 1 from providers p where p.org_id = e.org_id and p.id = e.provider_id
                              and p.requires_supervision)
          order by e.id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn create_drafts(pool: &PgPool, encounters: &[Uuid]) -> Vec<Uuid> {
    let mut conn = pool.acquire().await.unwrap();
    create_claims_from_encounters(&mut conn, encounters)
        .await
        .unwrap()
        .into_iter()
        .map(|c| match c.outcome {
            ClaimCreation::Created { claim_id, .. } => claim_id,
            ClaimCreation::Skipped { reason } => panic!("{}: skipped: {reason}", c.encounter_id),
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// The status machine

#[tokio::test]
async fn claim_status_refuses_skipped_and_reversed_steps_and_takes_each_arrow() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let bad = "billing_claims_status_transition";
    let draft = claims_in(pool, "draft").await[0];
    let ready = claims_in(pool, "ready").await;
    let paid = claims_in(pool, "paid").await[0];
    let appealed = claims_in(pool, "appealed").await[0];

    // Skipped and reversed steps.
    expect_violation(
        set_status(pool, draft, "submitted").await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(set_status(pool, draft, "paid").await, CHECK_VIOLATION, bad);
    expect_violation(
        set_status(pool, draft, "voided").await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(
        set_status(pool, ready[0], "draft").await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(
        set_status(pool, ready[0], "paid").await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(
        set_status(pool, paid, "submitted").await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(set_status(pool, paid, "voided").await, CHECK_VIOLATION, bad);
    expect_violation(
        set_status(pool, appealed, "submitted").await,
        CHECK_VIOLATION,
        bad,
    );
    expect_violation(
        set_status(pool, appealed, "accepted").await,
        CHECK_VIOLATION,
        bad,
    );

    // Every arrow, on claims that walk them: ready ones, and the demo's submitted ones.
    let submitted = claims_in(pool, "submitted").await;
    let walks: [(Uuid, &[&str]); 11] = [
        (ready[0], &["submitted", "accepted", "paid"]),
        (ready[1], &["voided"]),
        (ready[2], &["submitted", "voided"]),
        (submitted[0], &["accepted", "appealed", "paid"]),
        (submitted[1], &["rejected", "paid"]),
        (submitted[2], &["rejected", "appealed"]),
        (submitted[3], &["denied", "paid"]),
        (submitted[4], &["denied", "appealed", "denied"]),
        (submitted[5], &["accepted", "voided"]),
        (submitted[6], &["rejected", "voided"]),
        (submitted[7], &["denied", "voided"]),
    ];
    for (claim, walk) in walks {
        for status in walk {
            expect_ok(set_status(pool, claim, status).await, status);
        }
        assert_eq!(status_of(pool, claim).await, *walk.last().unwrap());
        if walk.last() == Some(&"voided") {
            let (voided_at, reason): (Option<time::OffsetDateTime>, Option<String>) =
                sqlx::query_as("select voided_at, void_reason from billing_claims where id = $1")
                    .bind(claim)
                    .fetch_one(pool)
                    .await
                    .unwrap();
            assert!(voided_at.is_some() && reason.is_some());
            // Voided is the end.
            expect_violation(set_status(pool, claim, "ready").await, CHECK_VIOLATION, bad);
        }
    }

    // A void needs its reason.
    let submitted = submitted[8];
    expect_violation(
        sqlx::query("update billing_claims set status = 'voided' where id = $1")
            .bind(submitted)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        "billing_claims_void_reason_required",
    );
    // A claim is created as a draft.
    let created = sqlx::query(
        "insert into billing_claims (org_id, patient_id, patient_insurance_id, rendering_provider_id, status)
         select org_id, patient_id, patient_insurance_id, rendering_provider_id, 'ready' from billing_claims where id = $1",
    )
    .bind(paid)
    .execute(pool)
    .await;
    expect_violation(created, CHECK_VIOLATION, "billing_claims_created_as_draft");
    // A claim past draft is never deleted.
    expect_violation(
        sqlx::query("delete from billing_claims where id = $1")
            .bind(paid)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        "billing_claims_record_immutable",
    );
    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Ready only when documented

#[tokio::test]
async fn ready_needs_signed_cosigned_sessions_and_recorded_diagnoses() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;

    // A draft whose note is not signed yet.
    let unsigned: Uuid = sqlx::query_scalar(
        "select c.id from billing_claims c join claim_line_items l on l.org_id = c.org_id and l.claim_id = c.id
          where c.status = 'draft'
            and not exists (select 1 from clinical_notes n where n.org_id = l.org_id and n.encounter_id = l.encounter_id
                              and n.is_current and n.status = 'signed')
          order by c.id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let message = expect_violation(
        set_status(pool, unsigned, "ready").await,
        CHECK_VIOLATION,
        "billing_claims_ready_note_signed",
    );
    assert!(message.contains("has no signed note"), "{message}");

    // A draft of a supervised clinician whose signed note waits for the cosignature.
    let uncosigned: Uuid = sqlx::query_scalar(
        "select c.id from billing_claims c
           join providers p on p.org_id = c.org_id and p.id = c.rendering_provider_id and p.requires_supervision
           join claim_line_items l on l.org_id = c.org_id and l.claim_id = c.id
           join clinical_notes n on n.org_id = l.org_id and n.encounter_id = l.encounter_id and n.is_current and n.status = 'signed'
          where c.status = 'draft'
            and not exists (select 1 from note_signatures s where s.org_id = n.org_id and s.note_id = n.id
                              and s.signature_type = 'supervisor')
          order by c.id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    expect_violation(
        set_status(pool, uncosigned, "ready").await,
        CHECK_VIOLATION,
        "billing_claims_ready_note_cosigned",
    );

    // Documented sessions: drafts created from them become ready...
    let sessions = sessions_to_bill(pool).await;
    assert!(sessions.len() >= 3, "the demo leaves sessions to bill");
    let drafts = create_drafts(pool, &sessions[..3]).await;
    expect_ok(
        set_status(pool, drafts[0], "ready").await,
        "a documented claim",
    );

    // ...unless a diagnosis is not on the patient's record.
    let (patient, org): (Uuid, Uuid) =
        sqlx::query_as("select patient_id, org_id from billing_claims where id = $1")
            .bind(drafts[1])
            .fetch_one(pool)
            .await
            .unwrap();
    let foreign_code: String = sqlx::query_scalar(
        "select code from icd10_codes where is_billable and code like 'F4%'
            and code not in (select icd10_code from patient_diagnoses where org_id = $1 and patient_id = $2)
          order by code limit 1",
    )
    .bind(org)
    .bind(patient)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into claim_diagnoses (org_id, claim_id, sequence, icd10_code) values ($1, $2, 12, $3)",
    )
    .bind(org)
    .bind(drafts[1])
    .bind(&foreign_code)
    .execute(pool)
    .await
    .unwrap();
    let message = expect_violation(
        set_status(pool, drafts[1], "ready").await,
        CHECK_VIOLATION,
        "billing_claims_ready_diagnosis_on_record",
    );
    assert!(
        message.contains(&format!("diagnosis L ({foreign_code})")),
        "{message}"
    );

    // ...or a session on it is not completed.
    let scheduled: Uuid = sqlx::query_scalar(
        "insert into encounters (org_id, patient_id, provider_id, encounter_type)
         select org_id, patient_id, rendering_provider_id, 'individual_therapy' from billing_claims where id = $1
         returning id",
    )
    .bind(drafts[2])
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into claim_line_items (org_id, claim_id, encounter_id, line_number, cpt_code, charge, service_date, diagnosis_pointers)
         values ($1, $2, $3, 9, '90834', 135, current_date, '{1}')",
    )
    .bind(org)
    .bind(drafts[2])
    .bind(scheduled)
    .execute(pool)
    .await
    .unwrap();
    expect_violation(
        set_status(pool, drafts[2], "ready").await,
        CHECK_VIOLATION,
        "billing_claims_ready_encounter_completed",
    );

    // An empty claim has nothing to be ready with.
    let empty: Uuid = sqlx::query_scalar(
        "insert into billing_claims (org_id, patient_id, patient_insurance_id, rendering_provider_id)
         select org_id, patient_id, patient_insurance_id, rendering_provider_id from billing_claims where id = $1
         returning id",
    )
    .bind(drafts[0])
    .fetch_one(pool)
    .await
    .unwrap();
    expect_violation(
        set_status(pool, empty, "ready").await,
        CHECK_VIOLATION,
        "billing_claims_ready_needs_lines",
    );
    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Lines frozen after draft, total kept

#[tokio::test]
async fn lines_and_diagnoses_change_only_in_draft_and_the_total_follows_the_lines() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let sessions = sessions_to_bill(pool).await;
    let draft = create_drafts(pool, &sessions[..1]).await[0];
    let total = |claim: Uuid| {
        sqlx::query_scalar::<_, i64>(
            "select (total_charge * 100)::bigint from billing_claims where id = $1",
        )
        .bind(claim)
        .fetch_one(pool)
    };
    let sum = |claim: Uuid| {
        sqlx::query_scalar::<_, i64>(
            "select coalesce((sum(charge) * 100)::bigint, 0) from claim_line_items where claim_id = $1",
        )
        .bind(claim)
        .fetch_one(pool)
    };
    assert!(
        total(draft).await.unwrap() > 0,
        "charged from the fee schedule"
    );
    assert_eq!(total(draft).await.unwrap(), sum(draft).await.unwrap());
    sqlx::query(
        "update claim_line_items set charge = charge + 10 where claim_id = $1 and line_number = 1",
    )
    .bind(draft)
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(total(draft).await.unwrap(), sum(draft).await.unwrap());

    expect_ok(set_status(pool, draft, "ready").await, "ready");
    let frozen = "claim_line_items_immutable";
    expect_violation(
        sqlx::query("update claim_line_items set charge = 1 where claim_id = $1")
            .bind(draft)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        frozen,
    );
    expect_violation(
        sqlx::query("update claim_line_items set cpt_code = '90837' where claim_id = $1")
            .bind(draft)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        frozen,
    );
    expect_violation(
        sqlx::query(
            "insert into claim_line_items (org_id, claim_id, encounter_id, line_number, cpt_code, charge, service_date, diagnosis_pointers)
             select org_id, claim_id, encounter_id, 5, cpt_code, charge, service_date, diagnosis_pointers
               from claim_line_items where claim_id = $1 and line_number = 1",
        )
        .bind(draft)
        .execute(pool)
        .await,
        CHECK_VIOLATION,
        frozen,
    );
    expect_violation(
        sqlx::query("delete from claim_line_items where claim_id = $1")
            .bind(draft)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        frozen,
    );
    expect_violation(
        sqlx::query("delete from claim_diagnoses where claim_id = $1")
            .bind(draft)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        "claim_diagnoses_immutable",
    );
    expect_violation(
        sqlx::query("update billing_claims set place_of_service = '02' where id = $1")
            .bind(draft)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        "billing_claims_billed_content_immutable",
    );
    // What the payer paid is recorded on a frozen line.
    expect_ok(
        sqlx::query(
            "update claim_line_items set paid_amount = 50, patient_responsibility = 10, adjustment_amount = 5
              where claim_id = $1",
        )
        .bind(draft)
        .execute(pool)
        .await,
        "posting a payment on the line",
    );
    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Authorizations

/// A ready claim on a coverage with an authorization whose CPT codes include the claim's.
async fn ready_authorized_claim(pool: &PgPool) -> (Uuid, Uuid, Uuid) {
    sqlx::query_as(
        "select c.org_id, c.id, c.patient_insurance_id from billing_claims c
           join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
          where c.status = 'ready' and pi.authorized_sessions is not null
            and exists (select 1 from claim_line_items l where l.org_id = c.org_id and l.claim_id = c.id
                          and l.cpt_code = any (pi.authorized_cpt_codes)
                          and l.service_date between pi.authorization_start and pi.authorization_end)
          order by c.id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn usage(pool: &PgPool, coverage: Uuid) -> (i32, i32, i32) {
    sqlx::query_as(
        "select sessions_used, sessions_over_authorization, authorized_sessions from patient_insurance where id = $1",
    )
    .bind(coverage)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_submitted_session_counts_once_and_a_void_gives_it_back() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, claim, coverage) = ready_authorized_claim(pool).await;
    let (used, over, _) = usage(pool, coverage).await;

    let mut tx = begin_as(pool, org, "billing").await;
    expect_ok(set_status(&mut *tx, claim, "submitted").await, "submit");
    tx.commit().await.unwrap();
    assert_eq!(usage(pool, coverage).await.0, used + 1);
    let counted: i32 =
        sqlx::query_scalar("select sessions_counted from billing_claims where id = $1")
            .bind(claim)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(counted, 1);
    // Moving on does not count again.
    expect_ok(set_status(pool, claim, "accepted").await, "accepted");
    assert_eq!(usage(pool, coverage).await.0, used + 1);

    let mut tx = begin_as(pool, org, "billing").await;
    expect_ok(set_status(&mut *tx, claim, "voided").await, "void");
    tx.commit().await.unwrap();
    assert_eq!(
        usage(pool, coverage).await,
        (used, over, usage(pool, coverage).await.2)
    );
    // The counter itself is not the caller's to set.
    expect_violation(
        sqlx::query("update billing_claims set sessions_counted = 0 where id = $1")
            .bind(claim)
            .execute(pool)
            .await,
        CHECK_VIOLATION,
        "billing_claims_identity_immutable",
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn past_the_limit_only_an_admin_overrides_and_the_excess_is_counted_apart() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, claim, coverage) = ready_authorized_claim(pool).await;
    sqlx::query("update patient_insurance set authorized_sessions = sessions_used where id = $1")
        .bind(coverage)
        .execute(pool)
        .await
        .unwrap();
    let (used, over, authorized) = usage(pool, coverage).await;

    let mut tx = begin_as(pool, org, "billing").await;
    let message = expect_violation(
        set_status(&mut *tx, claim, "submitted").await,
        CHECK_VIOLATION,
        "billing_claims_authorization_exhausted",
    );
    assert!(
        message.contains(&format!("allows {authorized} sessions and {used} are used")),
        "{message}"
    );
    tx.rollback().await.unwrap();

    // A biller may not override; an admin may, and is recorded.
    for role in ["billing", "provider", "staff"] {
        let mut tx = begin_as(pool, org, role).await;
        let overridden = sqlx::query(
            "update billing_claims set authorization_override_reason = 'Payer extension by phone' where id = $1",
        )
        .bind(claim)
        .execute(&mut *tx)
        .await;
        match role {
            "billing" => {
                expect_violation(
                    overridden,
                    INSUFFICIENT_PRIVILEGE,
                    "billing_claims_authorization_override_admin_only",
                );
            }
            // Providers and the front desk may not update a ready claim at all.
            _ => assert_eq!(overridden.map(|d| d.rows_affected()).unwrap_or(0), 0),
        }
        tx.rollback().await.unwrap();
    }
    let mut tx = begin_as(pool, org, "admin").await;
    expect_ok(
        sqlx::query(
            "update billing_claims set authorization_override_reason = 'Payer extension by phone, ref 77' where id = $1",
        )
        .bind(claim)
        .execute(&mut *tx)
        .await,
        "an admin's override",
    );
    tx.commit().await.unwrap();
    let overridden_by: Option<Uuid> = sqlx::query_scalar(
        "select c.authorization_overridden_by from billing_claims c where c.id = $1",
    )
    .bind(claim)
    .fetch_one(pool)
    .await
    .unwrap();
    let admin: Uuid = sqlx::query_scalar(
        "select id from users where org_id = $1 and role = 'admin' order by email limit 1",
    )
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(overridden_by, Some(admin));

    let mut tx = begin_as(pool, org, "billing").await;
    expect_ok(
        set_status(&mut *tx, claim, "submitted").await,
        "submit with the override",
    );
    tx.commit().await.unwrap();
    assert_eq!(usage(pool, coverage).await, (used, over + 1, authorized));

    expect_ok(set_status(pool, claim, "voided").await, "void");
    assert_eq!(usage(pool, coverage).await, (used, over, authorized));
    db.close().await.unwrap();
}

#[tokio::test]
async fn two_billers_racing_for_the_last_session_count_it_once() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let (org, first, coverage) = ready_authorized_claim(pool).await;
    // A second ready claim on the same coverage: a submitted one voided and billed again.
    let (second_session, old_claim): (Uuid, Uuid) = sqlx::query_as(
        "select l.encounter_id, c.id from billing_claims c
           join claim_line_items l on l.org_id = c.org_id and l.claim_id = c.id
           join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
          where c.patient_insurance_id = $1 and c.status = 'submitted'
            and l.cpt_code = any (pi.authorized_cpt_codes)
          order by c.id limit 1",
    )
    .bind(coverage)
    .fetch_one(pool)
    .await
    .unwrap();
    expect_ok(set_status(pool, old_claim, "voided").await, "void");
    let second = create_drafts(pool, &[second_session]).await[0];
    expect_ok(set_status(pool, second, "ready").await, "ready");
    sqlx::query(
        "update patient_insurance set authorized_sessions = sessions_used + 1 where id = $1",
    )
    .bind(coverage)
    .execute(pool)
    .await
    .unwrap();
    let (used, _, authorized) = usage(pool, coverage).await;

    let mut a = begin_as(pool, org, "billing").await;
    let mut b = begin_as(pool, org, "admin").await;
    // A takes the last session and holds the coverage's lock; B's submission waits for it.
    expect_ok(set_status(&mut *a, first, "submitted").await, "A submits");
    let b_submits = async { set_status(&mut *b, second, "submitted").await };
    let a_commits = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        a.commit().await
    };
    let (b_result, a_committed) = tokio::join!(b_submits, a_commits);
    a_committed.unwrap();
    expect_violation(
        b_result,
        CHECK_VIOLATION,
        "billing_claims_authorization_exhausted",
    );
    b.rollback().await.unwrap();

    assert_eq!(usage(pool, coverage).await.0, used + 1);
    assert_eq!(used + 1, authorized);
    assert_eq!(status_of(pool, first).await, "submitted");
    assert_eq!(status_of(pool, second).await, "ready");
    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Claims from encounters

#[tokio::test]
async fn claims_are_created_from_documented_sessions_with_the_reason_for_each_skip() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let sessions = sessions_to_bill(pool).await;
    let billed: Uuid = sqlx::query_scalar(
        "select l.encounter_id from claim_line_items l join billing_claims c on c.id = l.claim_id
          where c.status = 'paid' limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let self_pay: Uuid = sqlx::query_scalar(
        "select e.id from encounters e where e.status = 'completed'
            and not exists (select 1 from patient_insurance pi where pi.patient_id = e.patient_id and pi.is_active)
          limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let unknown = Uuid::new_v4();

    let org: Uuid = sqlx::query_scalar("select id from organizations")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut tx = begin_as(pool, org, "billing").await;
    let asked = [sessions[0], billed, self_pay, unknown, sessions[0]];
    let results = create_claims_from_encounters(&mut tx, &asked)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        results.iter().map(|r| r.encounter_id).collect::<Vec<_>>(),
        asked
    );
    let ClaimCreation::Created {
        claim_id,
        explanations,
        ..
    } = &results[0].outcome
    else {
        panic!("{:?}", results[0]);
    };
    assert!(
        explanations.iter().any(|e| e.contains("minutes")),
        "{explanations:?}"
    );
    let reasons: Vec<String> = results[1..]
        .iter()
        .map(|r| match &r.outcome {
            ClaimCreation::Skipped { reason } => reason.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        reasons[0].starts_with("already billed on claim"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("no active primary insurance"),
        "{reasons:?}"
    );
    assert!(reasons[2].contains("no such session"), "{reasons:?}");
    assert!(reasons[3].contains("listed twice"), "{reasons:?}");

    // The draft: the patient's primary diagnosis first, every line pointing at A, charges from the
    // fee schedule, coverage and prior authorization from the patient's primary insurance.
    let (primary_first, pointers_start_at_a, charged, authorization_matches): (bool, bool, bool, bool) =
        sqlx::query_as(
            "select (select d.icd10_code from claim_diagnoses d where d.claim_id = c.id and d.sequence = 1)
                        = (select pd.icd10_code from patient_diagnoses pd where pd.patient_id = c.patient_id
                            and pd.is_primary and pd.status = 'active'),
                    (select bool_and(l.diagnosis_pointers[1] = 1) from claim_line_items l where l.claim_id = c.id),
                    (select bool_and(l.charge = f.charge) from claim_line_items l
                       join fee_schedule_entries f on f.org_id = l.org_id and f.cpt_code = l.cpt_code
                      where l.claim_id = c.id),
                    c.prior_authorization_number is not distinct from pi.authorization_number
               from billing_claims c join patient_insurance pi on pi.id = c.patient_insurance_id
              where c.id = $1",
        )
        .bind(claim_id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(primary_first && pointers_start_at_a && charged && authorization_matches);

    // Asking again: already on that claim; once voided, billable again.
    let mut conn = pool.acquire().await.unwrap();
    let again = create_claims_from_encounters(&mut conn, &[sessions[0]])
        .await
        .unwrap();
    assert!(
        matches!(&again[0].outcome, ClaimCreation::Skipped { reason } if reason.contains("already billed"))
    );
    expect_ok(set_status(&mut *conn, *claim_id, "ready").await, "ready");
    expect_ok(set_status(&mut *conn, *claim_id, "voided").await, "voided");
    let after_void = create_claims_from_encounters(&mut conn, &[sessions[0]])
        .await
        .unwrap();
    assert!(matches!(
        after_void[0].outcome,
        ClaimCreation::Created { .. }
    ));
    drop(conn);
    db.close().await.unwrap();
}
