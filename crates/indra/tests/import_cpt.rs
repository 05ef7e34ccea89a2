//! `indra reference import-cpt FILE` end to end, and the reference data `indra migrate` loads.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure, like the tests"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

use indra_db::testing::TestDb;

fn indra(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_indra"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run indra")
}

/// A descriptor file in the system's temporary directory, unique to this test process.
fn write_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "indra_import_cpt_{}_{}_{name}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

async fn descriptor(db: &TestDb, code: &str) -> Option<String> {
    sqlx::query_scalar("select descriptor from cpt_codes where code = $1")
        .bind(code)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn import_cpt_updates_known_codes_and_reports_unknown_ones() {
    let db = TestDb::new().await.unwrap();
    let path = write_file(
        "good.csv",
        "code,descriptor\n90834,\"Licensed text, 45 minutes\"\n0001F,A code Indra does not know\n\
         90837,Licensed text 60\n",
    );

    let out = indra(
        db.url(),
        &["reference", "import-cpt", path.to_str().unwrap()],
    );
    std::fs::remove_file(&path).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.starts_with("updated 2 CPT descriptors\n"), "{text}");
    assert!(
        text.contains("skipped 1 codes Indra does not know:\n  line 3: 0001F\n"),
        "{text}"
    );
    assert_eq!(
        descriptor(&db, "90834").await.as_deref(),
        Some("Licensed text, 45 minutes")
    );
    assert_eq!(
        descriptor(&db, "90837").await.as_deref(),
        Some("Licensed text 60")
    );
    // Codes the file does not mention keep no descriptor; the short labels are untouched.
    assert_eq!(descriptor(&db, "90832").await, None);
    let label: String =
        sqlx::query_scalar("select short_label from cpt_codes where code = '90834'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(label, "Psychotherapy, about 45 minutes");
    db.close().await.unwrap();
}

#[tokio::test]
async fn import_cpt_with_a_bad_row_changes_nothing() {
    let db = TestDb::new().await.unwrap();
    let path = write_file(
        "bad.tsv",
        "code\tdescriptor\n90834\tLicensed text\n9083\tA short code\n90837\t\n",
    );

    let out = indra(
        db.url(),
        &["reference", "import-cpt", path.to_str().unwrap()],
    );
    std::fs::remove_file(&path).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(err.contains("line 3: \"9083\" is not a CPT code"), "{err}");
    assert!(
        err.contains("line 4: code 90837 has an empty descriptor"),
        "{err}"
    );
    assert!(err.contains("2 bad rows; nothing was imported"), "{err}");
    assert_eq!(descriptor(&db, "90834").await, None);

    let path = write_file("noheader.csv", "90834,Licensed text\n");
    let out = indra(
        db.url(),
        &["reference", "import-cpt", path.to_str().unwrap()],
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected the header row"));
    assert_eq!(descriptor(&db, "90834").await, None);

    let path = write_file("latin1.csv", "");
    std::fs::write(&path, b"code,descriptor\n90834,Psychoth\xe9rapie\n").unwrap();
    let out = indra(
        db.url(),
        &["reference", "import-cpt", path.to_str().unwrap()],
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not UTF-8"));
    assert_eq!(descriptor(&db, "90834").await, None);
    db.close().await.unwrap();
}

/// Migration 0016 loads chapter F01-F99 and the behavioral-health Z codes from the CDC release
/// (data/icd10cm), and brings the starting set of 0010 into line with it.
#[tokio::test]
async fn migrate_loads_the_icd10cm_behavioral_health_codes() {
    let db = TestDb::new().await.unwrap();
    let (f_codes, f_billable): (i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where is_billable) from icd10_codes where code like 'F%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((f_codes, f_billable), (1112, 871));
    let z_codes: i64 = sqlx::query_scalar("select count(*) from icd10_codes where code like 'Z%'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(z_codes, 276);
    // 0010 flagged Z91.19 billable; since FY2024 it has children (Z91.190-Z91.199).
    let flags: Vec<(String, bool)> = sqlx::query_as(
        "select code, is_billable from icd10_codes where code in ('F32', 'F32.A', 'F99', 'Z91.19') \
         order by code",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let expected = [
        ("F32", false),
        ("F32.A", true),
        ("F99", true),
        ("Z91.19", false),
    ];
    let expected: Vec<(String, bool)> = expected.iter().map(|(c, b)| (c.to_string(), *b)).collect();
    assert_eq!(flags, expected);
    db.close().await.unwrap();
}
