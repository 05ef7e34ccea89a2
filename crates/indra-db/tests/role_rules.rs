//! Least privilege inside one organization (docs/security-model.md, "Role x table x command"):
//! each demo user acts in a transaction as `authenticated` with their JWT claims, exactly as the
//! server does, and row-level security and grants decide what they read and write.
//!
//! Where it is cheap, a test also breaks the rule it guards (a permissive policy or a grant
//! added as the owner) and shows that the same check then fails, so the test is known to bite.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::TestDb;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// A demo user, looked up as the owner.
#[derive(Debug, Clone)]
struct Caller {
    auth_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    role: String,
    /// The caller's providers row, for clinicians.
    provider_id: Option<Uuid>,
}

async fn caller_where(pool: &PgPool, condition: &str, arg: &str) -> Caller {
    let (auth_id, org_id, user_id, role, provider_id): (Uuid, Uuid, Uuid, String, Option<Uuid>) =
        sqlx::query_as(&format!(
            "select u.auth_id, u.org_id, u.id, u.role::text, p.id
               from users u left join providers p on p.org_id = u.org_id and p.user_id = u.id
              where {condition} order by u.email limit 1"
        ))
        .bind(arg)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("no demo user where {condition} ({arg}): {e}"));
    Caller {
        auth_id,
        org_id,
        user_id,
        role,
        provider_id,
    }
}

/// The (first by e-mail) demo user holding `role`.
async fn user_with_role(pool: &PgPool, role: &str) -> Caller {
    caller_where(pool, "u.role = $1::user_role", role).await
}

/// The clinician whose assistant runs the demo loads (its first clinician).
async fn first_clinician(pool: &PgPool) -> Caller {
    let user: Uuid = sqlx::query_scalar("select distinct requested_by_user_id from ai_runs")
        .fetch_one(pool)
        .await
        .unwrap();
    caller_where(pool, "u.id = $1::uuid", &user.to_string()).await
}

/// A clinician other than `others`.
async fn another_clinician(pool: &PgPool, others: &[&Caller]) -> Caller {
    let excluded: Vec<String> = others.iter().map(|c| c.user_id.to_string()).collect();
    caller_where(
        pool,
        "u.role = 'provider' and u.id::text <> all (string_to_array($1, ','))",
        &excluded.join(","),
    )
    .await
}

/// Opens a transaction acting as `caller`, as the server does for each request.
async fn begin_as<'a>(pool: &'a PgPool, caller: &Caller) -> Transaction<'a, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local role authenticated")
        .execute(&mut *tx)
        .await
        .unwrap();
    let claims = json!({
        "sub": caller.auth_id,
        "role": "authenticated",
        "org_id": caller.org_id,
        "user_role": caller.role,
    });
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(claims.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Opens a transaction as the bare database role `role` (anon, service_role), without claims.
async fn begin_as_role<'a>(pool: &'a PgPool, role: &str) -> Transaction<'a, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(&format!("set local role {role}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// `select count(*) from <table>` as `caller`, in a transaction of its own.
async fn count_as(pool: &PgPool, caller: &Caller, table: &str) -> i64 {
    let mut tx = begin_as(pool, caller).await;
    let n = sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{} reading {table}: {e}", caller.role));
    tx.rollback().await.unwrap();
    n
}

/// `select count(*) from <table>` as the owner.
async fn count_as_owner(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[track_caller]
fn expect_code<T: std::fmt::Debug>(result: Result<T, sqlx::Error>, code: &str, what: &str) {
    let err = match result {
        Ok(value) => panic!("{what}: expected SQLSTATE {code}, but it succeeded: {value:?}"),
        Err(err) => err,
    };
    let db = err
        .as_database_error()
        .unwrap_or_else(|| panic!("{what}: expected SQLSTATE {code}, got {err}"));
    assert_eq!(db.code().as_deref(), Some(code), "{what}: {db}");
}

#[track_caller]
fn expect_denied<T: std::fmt::Debug>(result: Result<T, sqlx::Error>, what: &str) {
    expect_code(result, INSUFFICIENT_PRIVILEGE, what);
}

/// Runs `sql` as the owner (test setup, or breaking a rule on purpose).
async fn as_owner(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sql).execute(pool).await.unwrap();
}

/// A time far from the demo's schedule, so new appointments collide with nothing.
fn far_future(days: i64) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_time(time::Time::from_hms(10, 0, 0).unwrap()) + Duration::days(days)
}

// ------------------------------------------------------------------------------------------------
// Billing: what a claim needs, never note text

#[tokio::test]
async fn billing_cannot_read_note_text() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let billing = user_with_role(pool, "billing").await;

    assert!(count_as_owner(pool, "clinical_notes").await > 50);
    assert!(count_as_owner(pool, "note_drafts").await > 0);
    assert_eq!(count_as(pool, &billing, "clinical_notes").await, 0);
    assert_eq!(count_as(pool, &billing, "note_drafts").await, 0);

    // Break the rule: a permissive policy lets billing read every note, and the check fails.
    as_owner(
        pool,
        "create policy leak on clinical_notes for select to authenticated using (true)",
    )
    .await;
    assert!(
        count_as(pool, &billing, "clinical_notes").await > 50,
        "the check above would have caught the leak"
    );

    db.close().await.unwrap();
}

#[tokio::test]
async fn billing_reads_what_a_claim_needs() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let billing = user_with_role(pool, "billing").await;

    // The status of every note, without its content.
    let notes = count_as_owner(pool, "clinical_notes").await;
    assert_eq!(
        count_as(pool, &billing, "clinical_note_statuses").await,
        notes
    );
    let mut tx = begin_as(pool, &billing).await;
    let signed: i64 = sqlx::query_scalar(
        "select count(*) from clinical_note_statuses where status = 'signed' and is_current",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert!(signed > 0);
    let content = sqlx::query("select content from clinical_note_statuses limit 1")
        .execute(&mut *tx)
        .await;
    expect_code(content, "42703", "the view has no content column");
    tx.rollback().await.unwrap();

    for table in [
        "patient_diagnoses",
        "billing_claims",
        "claim_diagnoses",
        "claim_line_items",
        "note_signatures",
        "encounters",
        "patient_insurance",
    ] {
        let owner = count_as_owner(pool, table).await;
        assert!(owner > 0, "the demo has {table}");
        assert_eq!(
            count_as(pool, &billing, table).await,
            owner,
            "billing reads every {table} row of its organization"
        );
    }

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Staff (front desk): scheduling and demographics, no clinical content

#[tokio::test]
async fn staff_cannot_read_clinical_content() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let staff = user_with_role(pool, "staff").await;

    for table in [
        "patient_diagnoses",
        "medications",
        "clinical_notes",
        "note_signatures",
        "treatment_plans",
        "note_drafts",
        "billing_claims",
    ] {
        assert!(
            count_as_owner(pool, table).await > 0,
            "the demo has {table}"
        );
        assert_eq!(
            count_as(pool, &staff, table).await,
            0,
            "staff reads no {table}"
        );
    }

    // Break the rule: with a permissive policy the front desk would see diagnoses.
    as_owner(
        pool,
        "create policy leak on patient_diagnoses for select to authenticated using (true)",
    )
    .await;
    assert!(count_as(pool, &staff, "patient_diagnoses").await > 0);

    db.close().await.unwrap();
}

#[tokio::test]
async fn staff_registers_patients_and_schedules() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let staff = user_with_role(pool, "staff").await;
    let patients = count_as_owner(pool, "patients").await;
    let (patient, provider): (Uuid, Uuid) =
        sqlx::query_as("select id, primary_provider_id from patients order by id limit 1")
            .fetch_one(pool)
            .await
            .unwrap();

    assert_eq!(count_as(pool, &staff, "patients").await, patients);
    let mut tx = begin_as(pool, &staff).await;
    let updated =
        sqlx::query("update patients set phone = '555-0199' where org_id = $1 and id = $2")
            .bind(staff.org_id)
            .bind(patient)
            .execute(&mut *tx)
            .await
            .unwrap();
    assert_eq!(updated.rows_affected(), 1, "staff updates demographics");
    let starts_at = far_future(400);
    sqlx::query(
        "insert into appointments (org_id, patient_id, provider_id, starts_at, ends_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(staff.org_id)
    .bind(patient)
    .bind(provider)
    .bind(starts_at)
    .bind(starts_at + Duration::minutes(53))
    .execute(&mut *tx)
    .await
    .expect("staff books an appointment");
    sqlx::query(
        "insert into patients (org_id, first_name, last_name, date_of_birth)
         values ($1, 'New', 'Client', '1990-05-01')",
    )
    .bind(staff.org_id)
    .execute(&mut *tx)
    .await
    .expect("staff registers a patient");
    tx.commit().await.unwrap();

    let phone: Option<String> = sqlx::query_scalar("select phone from patients where id = $1")
        .bind(patient)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(phone.as_deref(), Some("555-0199"));

    db.close().await.unwrap();
}

#[tokio::test]
async fn staff_cannot_sign_a_note() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let staff = user_with_role(pool, "staff").await;
    let (note, author, hash): (Uuid, Uuid, Vec<u8>) = sqlx::query_as(
        "select id, author_provider_id, content_hash from clinical_notes
          where status = 'signed' and is_current order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let signatures = count_as_owner(pool, "note_signatures").await;

    for signature_type in ["author", "cosigner"] {
        let mut tx = begin_as(pool, &staff).await;
        let result = sqlx::query(
            "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash,
                                          signature, signing_key_id)
             values ($1, $2, $3, $4::signature_type, $5, $6, 'staff-key')",
        )
        .bind(staff.org_id)
        .bind(note)
        .bind(author)
        .bind(signature_type)
        .bind(&hash)
        .bind(vec![7u8; 64])
        .execute(&mut *tx)
        .await;
        // Refused either way. The BEFORE INSERT trigger (app.check_note_signature) runs before
        // the policy's WITH CHECK and looks the note up under the caller's RLS; the front desk
        // sees no note, so it answers "note does not exist" (23503) before RLS can say 42501.
        let err = result.expect_err("staff must not sign a note");
        let code = err.as_database_error().and_then(|e| e.code());
        assert!(
            matches!(code.as_deref(), Some(INSUFFICIENT_PRIVILEGE | "23503")),
            "staff signing ({signature_type}): {err}"
        );
        tx.rollback().await.unwrap();
    }
    assert_eq!(count_as_owner(pool, "note_signatures").await, signatures);

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Providers: their own drafts and their own signature only

/// A draft note written by `caller`.
async fn own_draft(pool: &PgPool, caller: &Caller) -> Uuid {
    sqlx::query_scalar(
        "select id from clinical_notes where author_provider_id = $1 and status = 'draft' order by id limit 1",
    )
    .bind(caller.provider_id.unwrap())
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_provider_cannot_edit_another_providers_draft() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let author = first_clinician(pool).await;
    let other = another_clinician(pool, &[&author]).await;
    let draft = own_draft(pool, &author).await;
    let before: serde_json::Value =
        sqlx::query_scalar("select content from clinical_notes where id = $1")
            .bind(draft)
            .fetch_one(pool)
            .await
            .unwrap();

    let mut tx = begin_as(pool, &other).await;
    // The note is visible to every clinician of the practice...
    let seen: i64 = sqlx::query_scalar("select count(*) from clinical_notes where id = $1")
        .bind(draft)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 1);
    // ...but neither editable nor removable by another one.
    let updated = sqlx::query(
        "update clinical_notes set content = jsonb_set(content, '{plan}', '\"Edited by someone else\"')
          where id = $1",
    )
    .bind(draft)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let deleted = sqlx::query("delete from clinical_notes where id = $1")
        .bind(draft)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    tx.commit().await.unwrap();

    let after: serde_json::Value =
        sqlx::query_scalar("select content from clinical_notes where id = $1")
            .bind(draft)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(before, after);

    db.close().await.unwrap();
}

#[tokio::test]
async fn a_provider_signs_only_as_themself() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let author = first_clinician(pool).await;
    let signer = another_clinician(pool, &[&author]).await;
    let impersonated = another_clinician(pool, &[&author, &signer]).await;
    let (note, hash): (Uuid, Vec<u8>) = sqlx::query_as(
        "select id, content_hash from clinical_notes
          where author_provider_id = $1 and status = 'signed' and is_current order by id limit 1",
    )
    .bind(author.provider_id.unwrap())
    .fetch_one(pool)
    .await
    .unwrap();
    let cosign = |as_provider: Uuid| {
        sqlx::query(
            "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash,
                                          signature, signing_key_id)
             values ($1, $2, $3, 'cosigner', $4, $5, 'test-key')",
        )
        .bind(author.org_id)
        .bind(note)
        .bind(as_provider)
        .bind(hash.clone())
        .bind(vec![9u8; 64])
    };

    let mut tx = begin_as(pool, &signer).await;
    expect_denied(
        cosign(impersonated.provider_id.unwrap())
            .execute(&mut *tx)
            .await,
        "cosigning as another provider",
    );
    tx.rollback().await.unwrap();

    let mut tx = begin_as(pool, &signer).await;
    cosign(signer.provider_id.unwrap())
        .execute(&mut *tx)
        .await
        .expect("cosigning as oneself");
    tx.commit().await.unwrap();

    db.close().await.unwrap();
}

#[tokio::test]
async fn a_provider_edits_and_signs_their_own_draft() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let author = first_clinician(pool).await;
    let provider = author.provider_id.unwrap();
    let draft = own_draft(pool, &author).await;

    let mut tx = begin_as(pool, &author).await;
    let edited = sqlx::query(
        "update clinical_notes set content = jsonb_set(content, '{plan}', '\"Continue weekly CBT.\"')
          where id = $1",
    )
    .bind(draft)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(edited.rows_affected(), 1, "the author edits their draft");
    let content: serde_json::Value =
        sqlx::query_scalar("select content from clinical_notes where id = $1")
            .bind(draft)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    // Any 32-byte hash will do: the database checks only that the signature carries the note's.
    let hash = Sha256::digest(content.to_string().as_bytes()).to_vec();
    let signed = sqlx::query(
        "update clinical_notes set status = 'signed', signed_at = now(), content_hash = $2 where id = $1",
    )
    .bind(draft)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(signed.rows_affected(), 1, "the author signs their draft");
    sqlx::query(
        "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash,
                                      signature, signing_key_id)
         values ($1, $2, $3, 'author', $4, $5, 'test-key')",
    )
    .bind(author.org_id)
    .bind(draft)
    .bind(provider)
    .bind(&hash)
    .bind(vec![1u8; 64])
    .execute(&mut *tx)
    .await
    .expect("the author's signature");
    tx.commit().await.expect("a signed note with its signature");

    let (status, stored): (String, Vec<u8>) =
        sqlx::query_as("select status::text, content_hash from clinical_notes where id = $1")
            .bind(draft)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), stored), ("signed", hash));

    // Signed now: not even its author can change it any more.
    let mut tx = begin_as(pool, &author).await;
    let again = sqlx::query(
        "update clinical_notes set content = jsonb_set(content, '{plan}', '\"Changed\"') where id = $1",
    )
    .bind(draft)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(again.rows_affected(), 0);
    tx.rollback().await.unwrap();

    db.close().await.unwrap();
}

#[tokio::test]
async fn admin_cannot_write_a_clinical_note() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let admin = user_with_role(pool, "admin").await;
    let (encounter, patient, provider): (Uuid, Uuid, Uuid) = sqlx::query_as(
        "select id, patient_id, provider_id from encounters where status = 'completed' order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();

    // Admins read clinical content...
    assert_eq!(
        count_as(pool, &admin, "clinical_notes").await,
        count_as_owner(pool, "clinical_notes").await
    );
    // ...but do not write it.
    let mut tx = begin_as(pool, &admin).await;
    let inserted = sqlx::query(
        "insert into clinical_notes (org_id, patient_id, encounter_id, author_provider_id, lineage_id, format, content)
         values ($1, $2, $3, $4, gen_random_uuid(), 'SOAP',
                 '{\"subjective\": \"s\", \"objective\": \"o\", \"assessment\": \"a\", \"plan\": \"p\"}')",
    )
    .bind(admin.org_id)
    .bind(patient)
    .bind(encounter)
    .bind(provider)
    .execute(&mut *tx)
    .await;
    expect_denied(inserted, "an admin writing a note");
    tx.rollback().await.unwrap();

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Admin: users and the audit log

#[tokio::test]
async fn only_admin_creates_users() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let insert =
        "insert into users (org_id, email, full_name, role) values ($1, $2, 'New Hire', 'staff')";

    for role in ["provider", "billing", "staff"] {
        let caller = user_with_role(pool, role).await;
        let mut tx = begin_as(pool, &caller).await;
        let result = sqlx::query(insert)
            .bind(caller.org_id)
            .bind(format!("hire.by.{role}@riverbend-test.example"))
            .execute(&mut *tx)
            .await;
        expect_denied(result, &format!("{role} creating a user"));
        tx.rollback().await.unwrap();
    }

    let admin = user_with_role(pool, "admin").await;
    let mut tx = begin_as(pool, &admin).await;
    sqlx::query(insert)
        .bind(admin.org_id)
        .bind("hire.by.admin@riverbend-test.example")
        .execute(&mut *tx)
        .await
        .expect("an admin creates a user");
    tx.commit().await.unwrap();

    db.close().await.unwrap();
}

#[tokio::test]
async fn only_admin_reads_the_audit_log() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let rows = count_as_owner(pool, "audit_log").await;
    assert!(rows > 100);

    let admin = user_with_role(pool, "admin").await;
    assert_eq!(count_as(pool, &admin, "audit_log").await, rows);
    for role in ["provider", "billing", "staff"] {
        let caller = user_with_role(pool, role).await;
        assert_eq!(
            count_as(pool, &caller, "audit_log").await,
            0,
            "{role} reads no audit row"
        );
    }
    // Nobody writes it directly, the admin included.
    let mut tx = begin_as(pool, &admin).await;
    let erase = sqlx::query("delete from audit_log").execute(&mut *tx).await;
    expect_denied(erase, "an admin erasing the audit log");
    tx.rollback().await.unwrap();

    // Break the rule: a permissive policy, and a provider reads the trail.
    as_owner(
        pool,
        "create policy leak on audit_log for select to authenticated using (true)",
    )
    .await;
    let provider = user_with_role(pool, "provider").await;
    assert!(count_as(pool, &provider, "audit_log").await > 0);

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// Reference codes, anon, credentials

#[tokio::test]
async fn reference_codes_are_read_only_for_users() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;

    for role in ["admin", "provider", "billing", "staff"] {
        let caller = user_with_role(pool, role).await;
        assert!(count_as(pool, &caller, "cpt_codes").await > 10);
        assert!(count_as(pool, &caller, "icd10_codes").await > 10);
        for (sql, what) in [
            (
                "insert into cpt_codes (code, short_label, category) values ('90899', 'Unlisted', 'psychotherapy')",
                "inserting a CPT code",
            ),
            (
                "update cpt_codes set short_label = 'Changed' where code = '90834'",
                "changing a CPT code",
            ),
            (
                "delete from cpt_codes where code = '90834'",
                "removing a CPT code",
            ),
            (
                "insert into icd10_codes (code, description, is_billable) values ('F99', 'Mental disorder', true)",
                "inserting an ICD-10 code",
            ),
            (
                "update icd10_codes set is_billable = true where code = 'F32'",
                "making a category billable",
            ),
            (
                "delete from icd10_codes where code = 'Z56.0'",
                "removing an ICD-10 code",
            ),
        ] {
            let mut tx = begin_as(pool, &caller).await;
            expect_denied(
                sqlx::query(sql).execute(&mut *tx).await,
                &format!("{role} {what}"),
            );
            tx.rollback().await.unwrap();
        }
    }

    db.close().await.unwrap();
}

/// Every table and view of schema public.
async fn public_relations(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p') order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn anon_reads_nothing() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let relations = public_relations(pool).await;
    assert!(relations.len() >= 23, "{relations:?}");

    for relation in relations
        .iter()
        .map(|r| format!("public.\"{r}\""))
        .chain(["indra_auth.password_credentials".to_owned()])
    {
        let mut tx = begin_as_role(pool, "anon").await;
        expect_denied(
            sqlx::query(&format!("select count(*) from {relation}"))
                .execute(&mut *tx)
                .await,
            &format!("anon reading {relation}"),
        );
        tx.rollback().await.unwrap();
    }

    // Break the rule: a grant to anon, and the select no longer fails.
    as_owner(pool, "grant select on patients to anon").await;
    let mut tx = begin_as_role(pool, "anon").await;
    sqlx::query("select count(*) from patients")
        .execute(&mut *tx)
        .await
        .expect("with the grant, anon may query patients");
    tx.rollback().await.unwrap();

    db.close().await.unwrap();
}

#[tokio::test]
async fn api_roles_cannot_read_password_hashes() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    assert!(count_as_owner(pool, "indra_auth.password_credentials").await > 0);

    let admin = user_with_role(pool, "admin").await;
    let mut tx = begin_as(pool, &admin).await;
    expect_denied(
        sqlx::query("select * from indra_auth.password_credentials")
            .execute(&mut *tx)
            .await,
        "an admin reading password hashes",
    );
    tx.rollback().await.unwrap();

    let mut tx = begin_as_role(pool, "service_role").await;
    expect_denied(
        sqlx::query("select * from indra_auth.password_credentials")
            .execute(&mut *tx)
            .await,
        "the service role reading password hashes",
    );
    tx.rollback().await.unwrap();

    db.close().await.unwrap();
}

// ------------------------------------------------------------------------------------------------
// The assistant

#[tokio::test]
async fn a_provider_sees_only_their_own_ai_runs() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let owner = first_clinician(pool).await;
    let other = another_clinician(pool, &[&owner]).await;
    let runs = count_as_owner(pool, "ai_runs").await;
    assert!(runs >= 4);

    assert_eq!(count_as(pool, &owner, "ai_runs").await, runs);
    for table in [
        "ai_runs",
        "ai_steps",
        "ai_proposed_actions",
        "ai_clarifications",
        "note_drafts",
    ] {
        assert!(count_as(pool, &owner, table).await > 0, "own {table}");
        assert_eq!(
            count_as(pool, &other, table).await,
            0,
            "another clinician's {table}"
        );
    }

    // Break the rule: a permissive policy, and the other clinician reads the dictations.
    as_owner(
        pool,
        "create policy leak on ai_runs for select to authenticated using (true)",
    )
    .await;
    assert_eq!(count_as(pool, &other, "ai_runs").await, runs);

    db.close().await.unwrap();
}
