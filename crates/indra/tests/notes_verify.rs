//! `indra notes verify`: the demo's signed notes verify, and a note altered in the database
//! behind the immutability trigger's back, or a forged signature, is named and fails the run.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::process::{Command, Output};

use indra_db::testing::TestDb;
use uuid::Uuid;

fn indra(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_indra"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run indra")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A signed, current note version of the demo, with its organization.
async fn a_signed_note(db: &TestDb, skip: i64) -> (Uuid, Uuid) {
    sqlx::query_as(
        "select org_id, id from clinical_notes where status = 'signed' and is_current
          order by org_id, id offset $1 limit 1",
    )
    .bind(skip)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// As a superuser, past the triggers that keep signed notes and signatures immutable.
async fn behind_the_triggers(db: &TestDb, statement: &str, id: Uuid) {
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let changed = sqlx::query(statement)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1, "{statement}");
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_demo_verifies_and_tampering_is_caught() {
    let db = TestDb::with_demo(2).await.unwrap();

    let clean = indra(db.url(), &["notes", "verify"]);
    let text = stdout(&clean);
    assert!(clean.status.success(), "{clean:?}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with("signatures checked: all intact\n"), "{text}");
    let versions: i64 = sqlx::query_scalar("select count(*) from clinical_notes")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        text.starts_with(&format!("{versions} note versions and ")),
        "{text}"
    );

    // A superuser rewrites a signed note's text.
    let (org, altered) = a_signed_note(&db, 0).await;
    behind_the_triggers(
        &db,
        "update clinical_notes set content = jsonb_set(content, '{plan}', '\"Discharge.\"') where id = $1",
        altered,
    )
    .await;
    // ... and replaces the bytes of another note's signature.
    let (_, forged_note) = a_signed_note(&db, 1).await;
    let forged: Uuid = sqlx::query_scalar(
        "select id from note_signatures where note_id = $1 and signature_type = 'author'",
    )
    .bind(forged_note)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    behind_the_triggers(
        &db,
        "update note_signatures set signature = sha512(signature) where id = $1",
        forged,
    )
    .await;

    let broken = indra(db.url(), &["notes", "verify"]);
    let text = stdout(&broken);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let problems: Vec<&str> = text.lines().filter(|l| l.contains(" note ")).collect();
    assert!(
        problems.iter().any(|l| l.starts_with(&format!(
            "{org} note {altered} version 1: the content does not match its signed hash"
        ))),
        "{text}"
    );
    assert!(
        problems.iter().any(|l| l.contains(&format!(
            "note {forged_note} version 1: author signature {forged} by provider"
        )) && l.contains("forged or altered")),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("problems in 2 versions"),
        "{text}"
    );

    // One note's lineage only: a clean one passes, the altered one fails.
    let (_, other) = a_signed_note(&db, 2).await;
    let one = indra(db.url(), &["notes", "verify", "--note", &other.to_string()]);
    assert!(one.status.success(), "{one:?}");
    assert!(
        stdout(&one).starts_with("1 note versions and "),
        "{}",
        stdout(&one)
    );
    let one = indra(
        db.url(),
        &["notes", "verify", "--note", &altered.to_string()],
    );
    assert_eq!(one.status.code(), Some(1), "{one:?}");
    let unknown = indra(
        db.url(),
        &["notes", "verify", "--note", &Uuid::new_v4().to_string()],
    );
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");

    db.close().await.unwrap();
}
