//! Signed notes are the legal record: immutable for every role, the owner included, and
//! superseded only by an amendment or an addendum that links back to them.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::TestDb;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A signed, current, first version of a note in the first demo organization, with its author.
struct SignedNote {
    id: Uuid,
    org_id: Uuid,
    patient_id: Uuid,
    encounter_id: Uuid,
    author_provider_id: Uuid,
    author_claims: Value,
    format: String,
    content: Value,
}

async fn a_signed_note(pool: &PgPool) -> SignedNote {
    let (id, org_id, patient_id, encounter_id, author_provider_id, auth_id, format, content): (
        Uuid,
        Uuid,
        Uuid,
        Uuid,
        Uuid,
        Uuid,
        String,
        Value,
    ) = sqlx::query_as(
        "select n.id, n.org_id, n.patient_id, n.encounter_id, n.author_provider_id, u.auth_id, n.format::text, n.content
           from clinical_notes n
           join providers p on p.org_id = n.org_id and p.id = n.author_provider_id
           join users u on u.org_id = p.org_id and u.id = p.user_id
          where n.status = 'signed' and n.version = 1 and n.is_current
          order by n.id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    SignedNote {
        id,
        org_id,
        patient_id,
        encounter_id,
        author_provider_id,
        author_claims: json!({"sub": auth_id, "role": "authenticated", "org_id": org_id, "user_role": "provider"}),
        format,
        content,
    }
}

async fn begin_as<'a>(
    pool: &'a PgPool,
    role: &str,
    claims: Option<&Value>,
) -> Transaction<'a, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    if role != "owner" {
        sqlx::query(&format!("set local role {role}"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    if let Some(claims) = claims {
        sqlx::query("select set_config('request.jwt.claims', $1, true)")
            .bind(claims.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx
}

fn constraint_of(error: &sqlx::Error) -> String {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .unwrap_or_default()
        .to_owned()
}

fn code_of(error: &sqlx::Error) -> String {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string())
        .unwrap_or_default()
}

/// Inserts version 2 of `note` (amendment or addendum) in `tx`, returning its id.
async fn insert_next_version(
    tx: &mut Transaction<'_, Postgres>,
    note: &SignedNote,
    kind: &str,
    content: &Value,
    addendum_text: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id, version, format,
                                     content, change_kind, change_reason, addendum_text, previous_version_id)
         values ($1, $2, $3, $4, $5, $6, 2, $7::note_format, $8, $9::note_change_kind, 'correction', $10, $6)",
    )
    .bind(id)
    .bind(note.org_id)
    .bind(note.patient_id)
    .bind(note.encounter_id)
    .bind(note.author_provider_id)
    .bind(note.id)
    .bind(&note.format)
    .bind(content)
    .bind(kind)
    .bind(addendum_text)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Signs version `id` as its author: status, hash, and the author's signature row.
async fn sign(
    tx: &mut Transaction<'_, Postgres>,
    note: &SignedNote,
    id: Uuid,
) -> Result<(), sqlx::Error> {
    let hash = Sha256::digest(id.as_bytes()).to_vec();
    sqlx::query("update clinical_notes set status = 'signed', signed_at = now(), content_hash = $3 where org_id = $1 and id = $2")
        .bind(note.org_id)
        .bind(id)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash, signature, signing_key_id)
         values ($1, $2, $3, 'author', $4, $5, 'test-key')",
    )
    .bind(note.org_id)
    .bind(id)
    .bind(note.author_provider_id)
    .bind(&hash)
    .bind(vec![7u8; 64])
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_signed_note_cannot_be_changed_or_deleted_by_any_role() {
    let db = TestDb::with_demo(1).await.unwrap();
    let note = a_signed_note(&db.pool).await;
    let changes = [
        "update clinical_notes set content = jsonb_set(content, array[(select min(k) from jsonb_object_keys(content) k)], '\"rewritten\"') where id = $1",
        "update clinical_notes set status = 'draft', signed_at = null where id = $1",
        "update clinical_notes set signed_at = signed_at - interval '1 day' where id = $1",
        "update clinical_notes set is_current = false, status = 'amended' where id = $1",
        "update clinical_notes set content_hash = sha256('forged') where id = $1",
        "delete from clinical_notes where id = $1",
    ];
    for change in changes {
        // The author, signed in: RLS does not even show the signed row to UPDATE or DELETE.
        let mut tx = begin_as(&db.pool, "authenticated", Some(&note.author_claims)).await;
        let done = sqlx::query(change)
            .bind(note.id)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 0, "author: {change}");
        tx.rollback().await.unwrap();

        // The service role (no RLS) and the owner (a superuser here) are stopped by the triggers,
        // immediately or, for the bare supersede flip, at commit.
        for role in ["service_role", "owner"] {
            let mut tx = begin_as(&db.pool, role, None).await;
            let result = match sqlx::query(change).bind(note.id).execute(&mut *tx).await {
                Ok(_) => tx.commit().await.map(drop),
                Err(e) => Err(e),
            };
            let error = result.expect_err(&format!("{role} changed a signed note: {change}"));
            assert!(
                [
                    "clinical_notes_signed_immutable",
                    "clinical_notes_status_transition",
                    "clinical_notes_superseded_needs_successor"
                ]
                .contains(&constraint_of(&error).as_str()),
                "{role}: {change}: {error}"
            );
        }
    }
    let unchanged: (Value, String, bool) = sqlx::query_as(
        "select content, status::text, is_current from clinical_notes where id = $1",
    )
    .bind(note.id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(unchanged, (note.content.clone(), "signed".to_owned(), true));
    db.close().await.unwrap();
}

#[tokio::test]
async fn the_guard_is_what_stops_the_owner() {
    // Break the rule once: without the guard trigger the owner can rewrite a signed note.
    let db = TestDb::with_demo(1).await.unwrap();
    let note = a_signed_note(&db.pool).await;
    sqlx::query("alter table clinical_notes disable trigger clinical_notes_guard")
        .execute(&db.pool)
        .await
        .unwrap();
    let done =
        sqlx::query("update clinical_notes set content_hash = sha256('forged') where id = $1")
            .bind(note.id)
            .execute(&db.pool)
            .await
            .unwrap();
    assert_eq!(done.rows_affected(), 1);
    db.close().await.unwrap();
}

#[tokio::test]
async fn an_amendment_supersedes_the_signed_version_in_one_transaction() {
    let db = TestDb::with_demo(1).await.unwrap();
    let note = a_signed_note(&db.pool).await;
    let mut corrected = note.content.clone();
    let first_key = corrected
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    corrected[&first_key] = json!("Corrected: the rating was 5/10.");

    let mut tx = begin_as(&db.pool, "authenticated", Some(&note.author_claims)).await;
    let v2 = insert_next_version(&mut tx, &note, "amendment", &corrected, None)
        .await
        .unwrap();
    sign(&mut tx, &note, v2).await.unwrap();
    tx.commit().await.unwrap();

    let history: Vec<(i32, String, bool, Option<Uuid>)> = sqlx::query_as(
        "select version, status::text, is_current, previous_version_id from clinical_notes where lineage_id = $1 order by version",
    )
    .bind(note.id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        history,
        vec![
            (1, "amended".to_owned(), false, None),
            (2, "signed".to_owned(), true, Some(note.id))
        ]
    );
    // The original is kept exactly as it was signed.
    let original: Value = sqlx::query_scalar("select content from clinical_notes where id = $1")
        .bind(note.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(original, note.content);
    db.close().await.unwrap();
}

#[tokio::test]
async fn an_addendum_keeps_the_original_content() {
    let db = TestDb::with_demo(1).await.unwrap();
    let note = a_signed_note(&db.pool).await;

    // Changing the content is an amendment's job, not an addendum's.
    let mut tx = begin_as(&db.pool, "authenticated", Some(&note.author_claims)).await;
    let mut changed = note.content.clone();
    let first_key = changed.as_object().unwrap().keys().next().unwrap().clone();
    changed[&first_key] = json!("different");
    let error = insert_next_version(
        &mut tx,
        &note,
        "addendum",
        &changed,
        Some("Called back the next day."),
    )
    .await
    .unwrap_err();
    assert_eq!(
        constraint_of(&error),
        "clinical_notes_addendum_keeps_content"
    );
    tx.rollback().await.unwrap();

    let mut tx = begin_as(&db.pool, "authenticated", Some(&note.author_claims)).await;
    let v2 = insert_next_version(
        &mut tx,
        &note,
        "addendum",
        &note.content,
        Some("Called back the next day."),
    )
    .await
    .unwrap();
    sign(&mut tx, &note, v2).await.unwrap();
    tx.commit().await.unwrap();
    let statuses: Vec<String> = sqlx::query_scalar(
        "select status::text from clinical_notes where lineage_id = $1 order by version",
    )
    .bind(note.id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(statuses, ["addended", "signed"]);
    db.close().await.unwrap();
}

#[tokio::test]
async fn only_the_current_signed_version_can_be_superseded_and_only_by_its_author() {
    let db = TestDb::with_demo(1).await.unwrap();
    let note = a_signed_note(&db.pool).await;

    // A second amendment of version 1 after the first: version 1 is no longer current.
    let mut tx = begin_as(&db.pool, "service_role", None).await;
    insert_next_version(&mut tx, &note, "amendment", &note.content, None)
        .await
        .unwrap();
    let error = insert_next_version(&mut tx, &note, "amendment", &note.content, None)
        .await
        .unwrap_err();
    assert_eq!(constraint_of(&error), "clinical_notes_amend_signed_only");
    tx.rollback().await.unwrap();

    // Another provider of the practice cannot amend it, even naming the author.
    let other: (Uuid, Uuid) = sqlx::query_as(
        "select p.id, u.auth_id from providers p join users u on u.org_id = p.org_id and u.id = p.user_id
          where p.org_id = $1 and p.id <> $2 order by p.id limit 1",
    )
    .bind(note.org_id)
    .bind(note.author_provider_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let other_claims = json!({"sub": other.1, "role": "authenticated", "org_id": note.org_id, "user_role": "provider"});
    let mut tx = begin_as(&db.pool, "authenticated", Some(&other_claims)).await;
    let error = insert_next_version(&mut tx, &note, "amendment", &note.content, None)
        .await
        .unwrap_err();
    assert_eq!(code_of(&error), "42501", "{error}");
    tx.rollback().await.unwrap();
    let mut as_other = SignedNote {
        author_provider_id: other.0,
        ..a_signed_note(&db.pool).await
    };
    as_other.author_claims = other_claims.clone();
    let mut tx = begin_as(&db.pool, "authenticated", Some(&other_claims)).await;
    let error = insert_next_version(&mut tx, &as_other, "amendment", &note.content, None)
        .await
        .unwrap_err();
    assert_eq!(constraint_of(&error), "clinical_notes_amend_author_only");
    tx.rollback().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn superseding_without_a_new_version_or_signing_without_a_signature_does_not_commit() {
    let db = TestDb::with_demo(1).await.unwrap();
    let note = a_signed_note(&db.pool).await;

    // The one change a signed version accepts, made on its own, is refused at commit.
    let mut tx = begin_as(&db.pool, "service_role", None).await;
    sqlx::query("select app.supersede_note_version($1, $2, 'amendment')")
        .bind(note.org_id)
        .bind(note.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let error = tx.commit().await.unwrap_err();
    assert_eq!(
        constraint_of(&error),
        "clinical_notes_superseded_needs_successor"
    );

    // A draft signed without the author's signature row is refused at commit.
    let draft: (Uuid, Uuid, Uuid) = sqlx::query_as(
        "select n.id, n.org_id, u.auth_id from clinical_notes n
           join providers p on p.org_id = n.org_id and p.id = n.author_provider_id
           join users u on u.org_id = p.org_id and u.id = p.user_id
          where n.status = 'draft' order by n.id limit 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let claims = json!({"sub": draft.2, "role": "authenticated", "org_id": draft.1, "user_role": "provider"});
    let mut tx = begin_as(&db.pool, "authenticated", Some(&claims)).await;
    let done = sqlx::query("update clinical_notes set status = 'signed', signed_at = now(), content_hash = sha256('x') where id = $1")
        .bind(draft.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    let error = tx.commit().await.unwrap_err();
    assert_eq!(
        constraint_of(&error),
        "clinical_notes_author_signature_required"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn signatures_are_append_only_and_match_the_signed_content() {
    let db = TestDb::with_demo(1).await.unwrap();
    let note = a_signed_note(&db.pool).await;
    for statement in [
        "delete from note_signatures where note_id = $1",
        "update note_signatures set signed_at = now() where note_id = $1",
    ] {
        let error = sqlx::query(statement)
            .bind(note.id)
            .execute(&db.pool)
            .await
            .unwrap_err();
        assert_eq!(
            constraint_of(&error),
            "note_signatures_append_only",
            "{statement}"
        );
    }
    let error = sqlx::query(
        "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash, signature, signing_key_id)
         select org_id, id, author_provider_id, 'cosigner', sha256('not this note'), $2, 'k' from clinical_notes where id = $1",
    )
    .bind(note.id)
    .bind(vec![1u8; 64])
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert_eq!(constraint_of(&error), "note_signatures_content_hash_check");
    db.close().await.unwrap();
}

#[tokio::test]
async fn another_organizations_note_cannot_be_superseded() {
    let db = TestDb::with_demo(2).await.unwrap();
    let note = a_signed_note(&db.pool).await;
    // A provider of the other organization.
    let (other_org, other_auth): (Uuid, Uuid) = sqlx::query_as(
        "select u.org_id, u.auth_id from users u where u.org_id <> $1 and u.role = 'provider' order by u.email limit 1",
    )
    .bind(note.org_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let claims = json!({"sub": other_auth, "role": "authenticated", "org_id": other_org, "user_role": "provider"});
    let mut tx = begin_as(&db.pool, "authenticated", Some(&claims)).await;
    let error = sqlx::query("select app.supersede_note_version($1, $2, 'amendment')")
        .bind(note.org_id)
        .bind(note.id)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(
        code_of(&error),
        "23503",
        "answered as if the note did not exist: {error}"
    );
    tx.rollback().await.unwrap();
    let status: String =
        sqlx::query_scalar("select status::text from clinical_notes where id = $1")
            .bind(note.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(status, "signed");
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_signed_treatment_plan_is_revised_only_by_a_new_version() {
    let db = TestDb::with_demo(1).await.unwrap();
    let plan: (Uuid, Uuid) = sqlx::query_as(
        "select id, org_id from treatment_plans where status = 'signed' and is_current order by id limit 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let error =
        sqlx::query("update treatment_plans set review_due_on = review_due_on + 30 where id = $1")
            .bind(plan.0)
            .execute(&db.pool)
            .await
            .unwrap_err();
    assert_eq!(constraint_of(&error), "treatment_plans_signed_immutable");
    let superseded: i64 = sqlx::query_scalar(
        "select count(*) from treatment_plans p where status = 'superseded'
            and exists (select 1 from treatment_plans n where n.previous_version_id = p.id and n.org_id = p.org_id)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        superseded >= 1,
        "the demo has revised plans, each linked to its successor"
    );
    db.close().await.unwrap();
}
