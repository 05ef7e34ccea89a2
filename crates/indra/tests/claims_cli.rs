//! `indra claims export-837` and `indra claims import-835` on the demo practice: the file is a
//! valid 837P (pyx12's x12valid says so), the claims it carries are submitted and go out once;
//! a remittance posts, posting it again changes nothing, an unbalanced one is refused.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure, like the tests"
)]

use std::path::{Path, PathBuf};
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("test-output/claims-cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The independent validator (scripts/x12valid: pyx12 from PyPI in a venv under target/).
fn assert_valid_x12(file: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/x12valid");
    let out = Command::new(script)
        .arg(file)
        .output()
        .expect("run x12valid");
    assert!(
        out.status.success(),
        "x12valid refused {}:\n{}\n{}",
        file.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

async fn claims_by_status(db: &TestDb, status: &str) -> Vec<(Uuid, String)> {
    sqlx::query_as(
        "select id, claim_number from billing_claims where status::text = $1 order by claim_number",
    )
    .bind(status)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn export_writes_a_valid_837p_and_submits_each_ready_claim_once() {
    let db = TestDb::with_demo(1).await.unwrap();
    let ready = claims_by_status(&db, "ready").await;
    assert!(!ready.is_empty(), "the demo has ready claims");
    let file = output_dir().join(format!("export-{}.837", Uuid::new_v4().simple()));

    let out = indra(
        db.url(),
        &["claims", "export-837", "--out", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("exported {} claims", ready.len())),
        "{}",
        text(&out.stderr)
    );
    let x12 = std::fs::read_to_string(&file).unwrap();
    assert!(x12.starts_with("ISA*"), "{x12}");
    for (_, number) in &ready {
        assert!(x12.contains(&format!("CLM*{number}*")), "{number} in {x12}");
    }
    assert_valid_x12(&file);
    assert!(claims_by_status(&db, "ready").await.is_empty());
    let submitted: Vec<Uuid> = claims_by_status(&db, "submitted")
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for (id, number) in &ready {
        assert!(submitted.contains(id), "{number} submitted");
    }

    // Nothing is ready any more: the second run says so, exits 1 and writes nothing.
    let again_file = output_dir().join(format!("again-{}.837", Uuid::new_v4().simple()));
    let again = indra(
        db.url(),
        &[
            "claims",
            "export-837",
            "--out",
            again_file.to_str().unwrap(),
        ],
    );
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(
        text(&again.stderr).contains("no claim is ready"),
        "{}",
        text(&again.stderr)
    );
    assert!(!again_file.exists());

    // Control numbers are persisted and never reused.
    let numbers: Vec<i32> = sqlx::query_scalar(
        "select interchange_control_number from claim_exports order by interchange_control_number",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut distinct = numbers.clone();
    distinct.dedup();
    assert_eq!(numbers, distinct);
    db.close().await.unwrap();
}

/// One claim's remittance: paid with a contractual adjustment and coinsurance, per line.
async fn remittance_for(db: &TestDb, claim: Uuid, trace: &str, skew_cents: i64) -> String {
    let (number, total): (String, i64) = sqlx::query_as(
        "select claim_number, (total_charge * 100)::bigint from billing_claims where id = $1",
    )
    .bind(claim)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let lines: Vec<(i16, String, i64, String)> = sqlx::query_as(
        "select line_number, cpt_code, (charge * 100)::bigint, to_char(service_date, 'YYYYMMDD')
           from claim_line_items where claim_id = $1 order by line_number",
    )
    .bind(claim)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let money = |cents: i64| format!("{}.{:02}", cents / 100, cents % 100);
    let mut segments = vec![
        "ST*835*0001".to_owned(),
        String::new(), // BPR, once the total paid is known
        format!("TRN*1*{trace}*1512345678"),
        "DTM*405*20260301".to_owned(),
        "N1*PR*DEMO HEALTH PLAN".to_owned(),
        "N1*PE*RIVERBEND COUNSELING*XX*1245319599".to_owned(),
        "LX*1".to_owned(),
    ];
    let (mut paid_total, mut patient_total) = (0, 0);
    let mut service_segments = Vec::new();
    for (line, cpt, charge, date) in &lines {
        // The payer allows 80%, pays 80% of that; the patient owes the rest of the allowed.
        let allowed = charge * 8 / 10;
        let paid = allowed * 8 / 10;
        let patient = allowed - paid;
        paid_total += paid;
        patient_total += patient;
        service_segments.push(format!(
            "SVC*HC:{cpt}*{}*{}**1",
            money(*charge),
            money(paid)
        ));
        service_segments.push(format!("DTM*472*{date}"));
        service_segments.push(format!("CAS*CO*45*{}", money(charge - allowed)));
        service_segments.push(format!("CAS*PR*2*{}", money(patient)));
        service_segments.push(format!("REF*6R*{number}-{line}"));
    }
    segments.push(format!(
        "CLP*{number}*1*{}*{}*{}*12*PAYER{trace}",
        money(total),
        money(paid_total),
        money(patient_total)
    ));
    segments.push("NM1*QC*1*DEMO*PATIENT".to_owned());
    segments.extend(service_segments);
    segments[1] = format!(
        "BPR*I*{}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20260301",
        money(paid_total + skew_cents)
    );
    let count = segments.len() + 1;
    segments.push(format!("SE*{count}*0001"));
    let body: String = segments.iter().map(|s| format!("{s}~\n")).collect();
    format!(
        "ISA*00*          *00*          *ZZ*DEMOPAYER      *ZZ*INDRA          *260301*1200*^*00501*000000901*0*T*:~\n\
         GS*HP*DEMOPAYER*INDRA*20260301*1200*901*X*005010X221A1~\n{body}GE*1*901~\nIEA*1*000000901~\n"
    )
}

#[tokio::test]
async fn import_posts_a_remittance_once_and_refuses_one_that_does_not_balance() {
    let db = TestDb::with_demo(1).await.unwrap();
    let (claim, number) = claims_by_status(&db, "submitted")
        .await
        .into_iter()
        .next()
        .expect("the demo has a submitted claim");
    let dir = output_dir();

    // Off by a cent: refused with the reason, nothing posted.
    let unbalanced = dir.join(format!("unbalanced-{}.835", Uuid::new_v4().simple()));
    std::fs::write(
        &unbalanced,
        remittance_for(&db, claim, "TRACE-OFF", 1).await,
    )
    .unwrap();
    let out = indra(
        db.url(),
        &["claims", "import-835", unbalanced.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("does not balance"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        claims_by_status(&db, "submitted").await.first(),
        Some(&(claim, number.clone()))
    );

    let file = dir.join(format!("remit-{}.835", Uuid::new_v4().simple()));
    std::fs::write(&file, remittance_for(&db, claim, "TRACE-1", 0).await).unwrap();

    // A preview changes nothing.
    let preview = indra(
        db.url(),
        &["claims", "import-835", "--preview", file.to_str().unwrap()],
    );
    assert!(preview.status.success(), "{}", text(&preview.stderr));
    assert!(text(&preview.stdout).contains("not posted (preview)"));
    let status: String =
        sqlx::query_scalar("select status::text from billing_claims where id = $1")
            .bind(claim)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(status, "submitted");

    let posted = indra(db.url(), &["claims", "import-835", file.to_str().unwrap()]);
    assert!(posted.status.success(), "{}", text(&posted.stderr));
    let stdout = text(&posted.stdout);
    assert!(stdout.contains("posted"), "{stdout}");
    assert!(stdout.contains(&format!("claim {number}")), "{stdout}");
    let (status, paid): (String, Option<String>) =
        sqlx::query_as("select status::text, paid_amount::text from billing_claims where id = $1")
            .bind(claim)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(status, "paid");
    assert!(paid.is_some());

    let audit_rows: i64 = sqlx::query_scalar("select count(*) from audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let again = indra(db.url(), &["claims", "import-835", file.to_str().unwrap()]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("already posted: nothing changed"),
        "{}",
        text(&again.stdout)
    );
    let audit_rows_after: i64 = sqlx::query_scalar("select count(*) from audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        audit_rows, audit_rows_after,
        "the second import wrote nothing"
    );
    db.close().await.unwrap();
}
