//! 837P out and 835 in, against the real database: control numbers allocated, increasing and
//! persisted, claims submitted by the export; a hand-written remittance posted once (its trace
//! number makes a second import change nothing), refused whole when it does not balance, and
//! postable by billing but not by the front desk.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::billing::{
    BillingError, ExportSettings, export_837p, load_claim_documents, post_remittance,
    preview_remittance,
};
use indra_db::testing::TestDb;
use indra_rules::billing::claim_document::Cents;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

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

/// The independent validator (scripts/x12valid: pyx12 from PyPI in a venv under target/).
fn assert_valid_x12(name: &str, content: &str) {
    let dir = std::env::temp_dir().join(format!("indra-billing-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, content).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/x12valid");
    let out = std::process::Command::new(script)
        .arg(&file)
        .output()
        .expect("run x12valid");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "x12valid refused {name}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn settings() -> ExportSettings {
    ExportSettings {
        sender_id: "INDRATEST".to_owned(),
        receiver_id: "CLEARTEST".to_owned(),
        submitter_name: "Test Practice".to_owned(),
        submitter_contact_name: "Riley Biller".to_owned(),
        submitter_contact_phone: "5550100".to_owned(),
        receiver_name: "Test Clearinghouse".to_owned(),
        production: false,
    }
}

async fn only_org(pool: &PgPool) -> Uuid {
    sqlx::query_scalar("select id from organizations")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn ready_claims(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("select id from billing_claims where status = 'ready' order by claim_number")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn claim_documents_load_in_the_order_asked_with_their_documentation() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let mut ids = ready_claims(pool).await;
    ids.truncate(3);
    ids.reverse();
    let mut conn = pool.acquire().await.unwrap();
    let documents = load_claim_documents(&mut conn, &ids).await.unwrap();
    let numbers: Vec<String> = sqlx::query_scalar(
        "select claim_number from unnest($1::uuid[]) with ordinality as t(id, n)
           join billing_claims c on c.id = t.id order by t.n",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        documents
            .iter()
            .map(|d| d.claim_number.clone())
            .collect::<Vec<_>>(),
        numbers
    );
    for document in &documents {
        assert!(!document.lines.is_empty() && !document.diagnoses.is_empty());
        assert!(
            document
                .diagnoses
                .iter()
                .all(|d| d.on_patient_record && d.is_billable)
        );
        assert!(
            document
                .lines
                .iter()
                .all(|l| l.documentation.completed && l.documentation.note_signed && l.cpt_known)
        );
        assert!(document.billing_provider.npi.is_some());
    }
    let missing = load_claim_documents(&mut conn, &[Uuid::new_v4()]).await;
    assert!(matches!(missing, Err(sqlx::Error::RowNotFound)));
    drop(conn);
    db.close().await.unwrap();
}

#[tokio::test]
async fn exports_number_their_files_in_order_and_submit_their_claims() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let last: i32 = sqlx::query_scalar(
        "select last_interchange_control_number from billing_counters where org_id = $1",
    )
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap();
    let ready = ready_claims(pool).await;
    assert!(ready.len() >= 2);

    let mut tx = begin_as(pool, org, "billing").await;
    let first = export_837p(&mut tx, org, Some(&ready[..1]), &settings())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first.interchange_control_number, last as u32 + 1);
    assert_eq!(first.claim_ids, ready[..1].to_vec());
    assert!(first.content.starts_with("ISA*"));
    assert!(
        first
            .content
            .contains(&format!("*{:09}*", first.interchange_control_number))
    );

    // A claim named that is not ready is refused, and nothing changes.
    let mut tx = begin_as(pool, org, "billing").await;
    let refused = export_837p(&mut tx, org, Some(&ready[..2]), &settings()).await;
    assert!(
        matches!(&refused, Err(BillingError::NotReady { status, .. }) if status == "submitted"),
        "{refused:?}"
    );
    tx.rollback().await.unwrap();

    // All the rest, by default.
    let mut tx = begin_as(pool, org, "billing").await;
    let second = export_837p(&mut tx, org, None, &settings()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        second.interchange_control_number,
        first.interchange_control_number + 1
    );
    assert_eq!(second.group_control_number, first.group_control_number + 1);
    assert_eq!(second.claim_ids.len(), ready.len() - 1);
    assert_valid_x12(&first.file_name, &first.content);
    assert_valid_x12(&second.file_name, &second.content);

    let still_ready: i64 =
        sqlx::query_scalar("select count(*) from billing_claims where status = 'ready'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(still_ready, 0);
    let (stored, sha, linked, submitted_at_set): (String, Vec<u8>, i64, bool) = sqlx::query_as(
        "select e.content, e.sha256,
                (select count(*) from claim_export_claims x where x.export_id = e.id),
                (select bool_and(c.submitted_at is not null and c.status = 'submitted')
                   from claim_export_claims x join billing_claims c on c.id = x.claim_id where x.export_id = e.id)
           from claim_exports e where e.id = $1",
    )
    .bind(second.id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(stored, second.content);
    assert_eq!(sha, Sha256::digest(second.content.as_bytes()).to_vec());
    assert_eq!(linked as usize, second.claim_ids.len());
    assert!(submitted_at_set);

    // Nothing left to send.
    let mut tx = begin_as(pool, org, "billing").await;
    let nothing = export_837p(&mut tx, org, None, &settings()).await;
    assert!(
        matches!(nothing, Err(BillingError::NothingReady)),
        "{nothing:?}"
    );
    tx.rollback().await.unwrap();

    // A sent file is never changed.
    let changed = sqlx::query("update claim_exports set content = 'x' where id = $1")
        .bind(second.id)
        .execute(pool)
        .await;
    assert_eq!(
        changed
            .unwrap_err()
            .as_database_error()
            .and_then(|d| d.constraint().map(str::to_owned)),
        Some("claim_exports_append_only".to_owned())
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn two_exports_at_once_never_share_a_control_number_or_a_claim() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let ready = ready_claims(pool).await;
    let mut a = begin_as(pool, org, "billing").await;
    let mut b = begin_as(pool, org, "admin").await;
    let first = export_837p(&mut a, org, Some(&ready[..1]), &settings())
        .await
        .unwrap();
    let second = async { export_837p(&mut b, org, None, &settings()).await };
    let commit_first = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        a.commit().await
    };
    let (second, committed) = tokio::join!(second, commit_first);
    committed.unwrap();
    let second = second.unwrap();
    b.commit().await.unwrap();
    assert_eq!(
        second.interchange_control_number,
        first.interchange_control_number + 1
    );
    assert!(!second.claim_ids.contains(&ready[0]));
    assert_eq!(second.claim_ids.len(), ready.len() - 1);
    db.close().await.unwrap();
}

/// A submitted claim: (number, its line 1's CPT code, charge in cents, service date as CCYYMMDD).
async fn submitted_claim(pool: &PgPool, skip: i64) -> (String, String, i64, String) {
    sqlx::query_as(
        "select c.claim_number, l.cpt_code, (l.charge * 100)::bigint, to_char(l.service_date, 'YYYYMMDD')
           from billing_claims c join claim_line_items l on l.claim_id = c.id and l.line_number = 1
          where c.status = 'submitted'
            and (select count(*) from claim_line_items x where x.claim_id = c.id) = 1
          order by c.claim_number offset $1 limit 1",
    )
    .bind(skip)
    .fetch_one(pool)
    .await
    .unwrap()
}

fn amount(cents: i64) -> String {
    Cents(cents).to_x12()
}

/// A remittance written by hand: claim `paid` at 80% with the rest the patient's coinsurance,
/// claim `rejected` denied for missing information, and a claim number the practice never sent.
fn remittance(
    trace: &str,
    paid: &(String, String, i64, String),
    rejected: &(String, String, i64, String),
    payment_adjustment: i64,
) -> String {
    let (paid_number, paid_cpt, paid_charge, paid_date) = paid;
    let payer_pays = paid_charge * 8 / 10;
    let coinsurance = paid_charge - payer_pays;
    let (rejected_number, rejected_cpt, rejected_charge, rejected_date) = rejected;
    let body = [
        "ST*835*0001".to_owned(),
        format!(
            "BPR*I*{}*C*ACH*CCP*01*011000015*DA*123456789*1512345678**01*021000021*DA*987654321*20260301",
            amount(payer_pays + 5000 + payment_adjustment)
        ),
        format!("TRN*1*{trace}*1512345678"),
        "N1*PR*Blue Harbor Health Plan*XV*BHHP1".to_owned(),
        "N3*100 Insurance Way".to_owned(),
        "N4*Hartford*CT*06103".to_owned(),
        "PER*BL*Claims Desk*TE*5550199".to_owned(),
        "N1*PE*Test Practice*XX*1234567893".to_owned(),
        "LX*1".to_owned(),
        format!(
            "CLP*{paid_number}*1*{}*{}*{}*12*PAYER0001",
            amount(*paid_charge),
            amount(payer_pays),
            amount(coinsurance)
        ),
        "NM1*QC*1*Doe*Jane****MI*M000000001".to_owned(),
        format!(
            "SVC*HC:{paid_cpt}*{}*{}**1",
            amount(*paid_charge),
            amount(payer_pays)
        ),
        format!("DTM*472*{paid_date}"),
        format!("CAS*PR*2*{}", amount(coinsurance)),
        format!("REF*6R*{paid_number}-1"),
        format!(
            "CLP*{rejected_number}*4*{}*0*0*12*PAYER0002",
            amount(*rejected_charge)
        ),
        "NM1*QC*1*Roe*Sam****MI*M000000002".to_owned(),
        format!("SVC*HC:{rejected_cpt}*{}*0**1", amount(*rejected_charge)),
        format!("DTM*472*{rejected_date}"),
        format!("CAS*CO*16*{}", amount(*rejected_charge)),
        "CLP*NOSUCHCLAIM*1*50*50*0*12*PAYER0003".to_owned(),
        "NM1*QC*1*Poe*Alex****MI*M000000003".to_owned(),
    ];
    let mut segments = vec![
        "ISA*00*          *00*          *ZZ*BHHP1          *ZZ*INDRATEST      *260301*1200*^*00501*000000501*0*T*:".to_owned(),
        "GS*HP*BHHP1*INDRATEST*20260301*1200*501*X*005010X221A1".to_owned(),
    ];
    segments.extend(body.iter().cloned());
    segments.push(format!("SE*{}*0001", body.len() + 1));
    segments.push("GE*1*501".to_owned());
    segments.push("IEA*1*000000501".to_owned());
    segments.join("~\n") + "~\n"
}

async fn table_counts(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar(
        "select n from (select 1 k, count(*) n from remittances union all select 2, count(*) from remittance_claims
                        union all select 3, count(*) from remittance_adjustments
                        union all select 4, count(*) from billing_claims where status = 'paid'
                        union all select 5, count(*) from claim_line_items where paid_amount is not null) t order by k",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_remittance_posts_once_moves_its_claims_and_lists_what_did_not_match() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let paid = submitted_claim(pool, 0).await;
    let rejected = submitted_claim(pool, 1).await;
    let text = remittance("EFT20260301A", &paid, &rejected, 0);
    assert_valid_x12("remittance.835", &text);

    // The review shows what posting will do, and writes nothing.
    let before = table_counts(pool).await;
    let mut tx = begin_as(pool, org, "billing").await;
    let preview = preview_remittance(&mut tx, org, &text).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(table_counts(pool).await, before);
    let payment = &preview.payments[0];
    assert!(payment.balance_problems.is_empty(), "{payment:?}");
    assert!(!payment.already_posted && payment.remittance_id.is_none());
    assert_eq!(
        payment
            .claims
            .iter()
            .map(|c| c.status_after.clone())
            .collect::<Vec<_>>(),
        vec![Some("paid".to_owned()), Some("rejected".to_owned()), None]
    );

    let mut tx = begin_as(pool, org, "billing").await;
    let posted = post_remittance(&mut tx, org, &text).await.unwrap();
    tx.commit().await.unwrap();
    let payment = &posted.payments[0];
    assert!(!payment.already_posted);
    let unmatched: Vec<&str> = payment
        .unmatched()
        .map(|c| c.claim_number.as_str())
        .collect();
    assert_eq!(unmatched, vec!["NOSUCHCLAIM"]);
    assert!(
        payment.claims[1]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("CARC 16"))
    );

    let (status, claim_paid, claim_patient, line_paid, line_patient): (String, i64, i64, i64, i64) =
        sqlx::query_as(
            "select c.status::text, (c.paid_amount * 100)::bigint, (c.patient_responsibility * 100)::bigint,
                    (l.paid_amount * 100)::bigint, (l.patient_responsibility * 100)::bigint
               from billing_claims c join claim_line_items l on l.claim_id = c.id and l.line_number = 1
              where c.claim_number = $1",
        )
        .bind(&paid.0)
        .fetch_one(pool)
        .await
        .unwrap();
    let payer_pays = paid.2 * 8 / 10;
    assert_eq!(
        (
            status.as_str(),
            claim_paid,
            claim_patient,
            line_paid,
            line_patient
        ),
        (
            "paid",
            payer_pays,
            paid.2 - payer_pays,
            payer_pays,
            paid.2 - payer_pays
        )
    );
    let rejected_status: String =
        sqlx::query_scalar("select status::text from billing_claims where claim_number = $1")
            .bind(&rejected.0)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(rejected_status, "rejected");
    let adjustments: Vec<(String, String, Option<Uuid>)> = sqlx::query_as(
        "select a.group_code, a.reason_code, a.claim_line_item_id from remittance_adjustments a
           join remittance_claims rc on rc.id = a.remittance_claim_id
          where rc.remittance_id = $1 order by rc.position",
    )
    .bind(payment.remittance_id.unwrap())
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(adjustments.len(), 2);
    assert_eq!(
        (adjustments[0].0.as_str(), adjustments[0].1.as_str()),
        ("PR", "2")
    );
    assert!(
        adjustments.iter().all(|a| a.2.is_some()),
        "matched to lines by REF*6R or CPT and date"
    );

    // The same file again: the earlier result, nothing changed.
    let after_first = table_counts(pool).await;
    let mut tx = begin_as(pool, org, "billing").await;
    let again = post_remittance(&mut tx, org, &text).await.unwrap();
    tx.commit().await.unwrap();
    assert!(again.payments[0].already_posted);
    assert_eq!(again.payments[0].claims, posted.payments[0].claims);
    assert_eq!(again.payments[0].remittance_id, payment.remittance_id);
    assert_eq!(table_counts(pool).await, after_first);
    db.close().await.unwrap();
}

#[tokio::test]
async fn an_unbalanced_remittance_is_refused_whole_with_its_reasons() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let paid = submitted_claim(pool, 0).await;
    let rejected = submitted_claim(pool, 1).await;
    // The payment says one dollar more than the claims paid.
    let text = remittance("EFT20260301B", &paid, &rejected, 100);
    let before = table_counts(pool).await;
    let mut tx = begin_as(pool, org, "billing").await;
    let refused = post_remittance(&mut tx, org, &text).await;
    tx.commit().await.unwrap();
    match refused {
        Err(BillingError::Unbalanced(reasons)) => {
            assert!(
                reasons.iter().any(|r| r.starts_with("payment ")),
                "{reasons:?}"
            );
        }
        other => panic!("expected Unbalanced, got {other:?}"),
    }
    assert_eq!(table_counts(pool).await, before);
    db.close().await.unwrap();
}

#[tokio::test]
async fn billing_posts_remittances_and_the_front_desk_cannot() {
    let db = TestDb::with_demo(1).await.unwrap();
    let pool = &db.pool;
    let org = only_org(pool).await;
    let paid = submitted_claim(pool, 0).await;
    let rejected = submitted_claim(pool, 1).await;
    let text = remittance("EFT20260301C", &paid, &rejected, 0);

    let mut tx = begin_as(pool, org, "staff").await;
    let refused = post_remittance(&mut tx, org, &text).await;
    tx.rollback().await.unwrap();
    let code = match &refused {
        Err(BillingError::Database(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.to_string()),
        other => panic!("the front desk posted a remittance: {other:?}"),
    };
    assert_eq!(code.as_deref(), Some("42501"));

    // The front desk reads the fee schedule but no file sent or received.
    let mut tx = begin_as(pool, org, "staff").await;
    let fees: i64 = sqlx::query_scalar("select count(*) from fee_schedule_entries")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let files: i64 = sqlx::query_scalar(
        "select (select count(*) from claim_exports) + (select count(*) from remittances)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(fees > 0);
    assert_eq!(files, 0);

    let mut tx = begin_as(pool, org, "billing").await;
    let posted = post_remittance(&mut tx, org, &text).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(posted.payments.len(), 1);
    // Providers read what was posted, but do not post.
    let mut tx = begin_as(pool, org, "provider").await;
    let seen: i64 = sqlx::query_scalar("select count(*) from remittance_claims")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(seen >= 3);
    db.close().await.unwrap();
}
