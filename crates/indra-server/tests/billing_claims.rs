//! Claims over HTTP, against the real database, from a documented session to a paid claim: the
//! fee schedule and the code suggestion, claims created in a batch (with what was skipped and
//! why), a draft edited (diagnoses A-L, pointers), held by the scrubber with every finding, made
//! ready, exported as an 837P (downloaded, submitted, downloaded again), printed as a CMS-1500,
//! paid by an 835 reviewed then posted once; and the refusals: roles, another practice, stale
//! versions, bad input field by field.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod billing_support;
mod common;

use axum::http::{Method, StatusCode, header};
use billing_support::*;
use common::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

/// A ready demo claim of the practice: (claim id, encounter id) of its first line.
async fn ready_claim(app: &TestApp) -> (Uuid, Uuid) {
    sqlx::query_as(
        "select c.id, l.encounter_id from billing_claims c
           join claim_line_items l on l.claim_id = c.id and l.line_number = 1
           join patient_insurance i on i.id = c.patient_insurance_id and i.is_active and i.priority = 'primary'
          where c.org_id = $1 and c.status = 'ready'
            and (select count(*) from claim_line_items x where x.claim_id = c.id) = 1
          order by c.claim_number limit 1",
    )
    .bind(org_id(app, ORG_A).await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn status_of(app: &TestApp, claim: Uuid) -> String {
    sqlx::query_scalar("select status::text from billing_claims where id = $1")
        .bind(claim)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

fn cents(text: &str) -> i64 {
    let (whole, fraction) = text.split_once('.').unwrap();
    whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
}

fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A hand-written 835: the payer pays 80% of `claim`'s line, the patient owes the rest, and a
/// second CLP names a claim the practice never sent.
fn remittance(
    trace: &str,
    claim_number: &str,
    cpt: &str,
    charge: i64,
    service_date: &str,
) -> String {
    let payer_pays = charge * 8 / 10;
    let coinsurance = charge - payer_pays;
    let date = service_date.replace('-', "");
    let body = [
        "ST*835*0001".to_owned(),
        format!(
            "BPR*I*{}*C*ACH*CCP*01*011000015*DA*123456789*1512345678**01*021000021*DA*987654321*20260301",
            amount(payer_pays + 5000)
        ),
        format!("TRN*1*{trace}*1512345678"),
        "N1*PR*Blue Harbor Health Plan*XV*BHHP1".to_owned(),
        "N1*PE*Riverbend Counseling*XX*1234567893".to_owned(),
        "LX*1".to_owned(),
        format!(
            "CLP*{claim_number}*1*{}*{}*{}*12*PAYER0001",
            amount(charge),
            amount(payer_pays),
            amount(coinsurance)
        ),
        format!("SVC*HC:{cpt}*{}*{}**1", amount(charge), amount(payer_pays)),
        format!("DTM*472*{date}"),
        format!("CAS*PR*2*{}", amount(coinsurance)),
        format!("REF*6R*{claim_number}-1"),
        "CLP*NOSUCHCLAIM*1*50*50*0*12*PAYER0003".to_owned(),
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

async fn post_text(app: &TestApp, path: &str, token: &str, text: &str) -> common::Answer {
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(axum::body::Body::from(text.to_owned()))
        .unwrap();
    app.send(request).await
}

/// The line of a claim as an edit sends it back.
fn line_input(line: &Value) -> Value {
    json!({"encounter_id": line["encounter_id"], "cpt_code": line["cpt_code"],
           "modifiers": line["modifiers"], "units": line["units"], "charge": line["charge"],
           "service_date": line["service_date"], "place_of_service": line["place_of_service"],
           "diagnosis_pointers": line["diagnosis_pointers"]})
}

fn diagnosis_inputs(claim: &Value) -> Value {
    Value::Array(
        claim["diagnoses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| json!({"icd10_code": d["icd10_code"], "patient_diagnosis_id": d["patient_diagnosis_id"]}))
            .collect(),
    )
}

#[tokio::test]
async fn a_documented_session_becomes_a_claim_that_is_exported_printed_and_paid() {
    let app = TestApp::spawn().await;
    let people = People::sign_in(&app).await;

    // The fee schedule: billers keep it, everyone reads it; a change names the version.
    for (code, charge) in [
        ("90832", "95.00"),
        ("90834", "135.00"),
        ("90837", "180.00"),
        ("99213", "120.00"),
    ] {
        let set = put(
            &app,
            &format!("/api/v1/fee-schedule/{code}"),
            &people.biller,
            json!({"charge": charge}),
            "*",
        )
        .await;
        assert_status(&set, StatusCode::OK);
        assert_eq!(set.body["charge"], charge);
    }
    let unversioned = app
        .call(
            Method::PUT,
            "/api/v1/fee-schedule/90834",
            Some(&people.biller),
            Some(json!({"charge": "140.00"})),
            &[],
        )
        .await;
    assert_problem(
        &unversioned,
        StatusCode::PRECONDITION_REQUIRED,
        "version-required",
        None,
    );
    assert_problem(
        &put(
            &app,
            "/api/v1/fee-schedule/90834",
            &people.provider,
            json!({"charge": "1.00"}),
            "*",
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_problem(
        &put(
            &app,
            "/api/v1/fee-schedule/90834",
            &people.biller,
            json!({"charge": "-5"}),
            "*",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("charge"),
    );
    let schedule = app.get("/api/v1/fee-schedule", &people.staff).await;
    assert_status(&schedule, StatusCode::OK);
    let charge_of = |answer: &common::Answer, code: &str| {
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["cpt_code"] == code)
            .map(|f| f["charge"].clone())
    };
    assert_eq!(charge_of(&schedule, "90837"), Some(json!("180.00")));
    let theirs = app.get("/api/v1/fee-schedule", &people.other_biller).await;
    assert_ne!(
        charge_of(&theirs, "90837"),
        Some(json!("180.00")),
        "another practice's schedule is its own"
    );

    // A demo claim is withdrawn, so its session can be billed again from scratch.
    let (old_claim, encounter) = ready_claim(&app).await;
    let void_url = format!("/api/v1/claims/{old_claim}/void");
    assert_problem(
        &post(&app, &void_url, &people.biller, json!({"reason": " "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("reason"),
    );
    assert_problem(
        &post(&app, &void_url, &people.provider, json!({"reason": "mine"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_problem(
        &post(
            &app,
            &void_url,
            &people.other_biller,
            json!({"reason": "theirs"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );
    let voided = post(
        &app,
        &void_url,
        &people.biller,
        json!({"reason": "Billed with the wrong code"}),
    )
    .await;
    assert_status(&voided, StatusCode::OK);
    assert_eq!(voided.body["status"], "voided");
    assert_eq!(voided.body["void_reason"], "Billed with the wrong code");

    // The code suggestion says what the session bills, and why.
    let suggestion = app
        .get(
            &format!("/api/v1/encounters/{encounter}/code-suggestion"),
            &people.biller,
        )
        .await;
    assert_status(&suggestion, StatusCode::OK);
    let suggested = &suggestion.body["lines"][0];
    assert!(
        suggested["why"]
            .as_str()
            .unwrap()
            .contains(suggested["cpt_code"].as_str().unwrap())
    );
    assert!(
        suggested["charge"].is_string(),
        "{suggestion:?}",
        suggestion = suggestion.body
    );
    assert!(
        !suggestion.body["place_of_service_why"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_problem(
        &app.get(
            &format!("/api/v1/encounters/{encounter}/code-suggestion"),
            &people.other_biller,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );

    // Claims from sessions, in a batch: what was created and what was skipped, and why.
    let unknown = Uuid::new_v4();
    let batch_body = json!({"encounter_ids": [encounter, unknown, encounter]});
    assert_problem(
        &post(
            &app,
            "/api/v1/claims/from-encounters",
            &people.staff,
            batch_body.clone(),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_problem(
        &post(
            &app,
            "/api/v1/claims/from-encounters",
            &people.biller,
            json!({"encounter_ids": []}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("encounter_ids"),
    );
    let batch = post_with(
        &app,
        "/api/v1/claims/from-encounters",
        &people.biller,
        batch_body.clone(),
        &[("idempotency-key", "batch-1")],
    )
    .await;
    assert_status(&batch, StatusCode::OK);
    let created = batch.body["created"].as_array().unwrap();
    assert_eq!(created.len(), 1, "{:?}", batch.body);
    assert_eq!(created[0]["encounter_id"], encounter.to_string());
    assert!(!created[0]["explanations"].as_array().unwrap().is_empty());
    let skipped: Vec<&str> = batch.body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped[0].contains("no such session"), "{skipped:?}");
    assert!(skipped[1].contains("already billed"), "{skipped:?}");
    let replayed = post_with(
        &app,
        "/api/v1/claims/from-encounters",
        &people.biller,
        batch_body,
        &[("idempotency-key", "batch-1")],
    )
    .await;
    assert_eq!(replayed.body, batch.body);
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    let claim: Uuid = created[0]["claim_id"].as_str().unwrap().parse().unwrap();
    let claim_number = created[0]["claim_number"].as_str().unwrap().to_owned();
    let url = format!("/api/v1/claims/{claim}");

    // The draft: diagnoses A-L, lines with pointers, the scrubber's findings inline.
    let draft = app.get(&url, &people.biller).await;
    assert_status(&draft, StatusCode::OK);
    assert_eq!(draft.body["status"], "draft");
    assert_eq!(draft.body["diagnoses"][0]["letter"], "A");
    let line = draft.body["lines"][0].clone();
    assert_eq!(line["diagnosis_pointers"][0], 1);
    assert!(line["pointer_letters"].as_str().unwrap().starts_with('A'));
    assert!(draft.body["scrub"]["findings"].is_array());
    let listed = app
        .get("/api/v1/claims?status=draft&limit=200", &people.biller)
        .await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == claim.to_string())
    );
    let ready_list = app
        .get("/api/v1/claims?status=ready&limit=200", &people.biller)
        .await;
    assert!(
        !ready_list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == claim.to_string())
    );
    assert_problem(
        &app.get(&url, &people.other_biller).await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );
    assert_problem(
        &app.get(&url, &people.staff).await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );

    // Edits: every field at fault at once; stale versions refused.
    let bad = put(
        &app,
        &url,
        &people.biller,
        json!({"diagnoses": diagnosis_inputs(&draft.body),
               "lines": [{"encounter_id": line["encounter_id"], "cpt_code": "00000", "units": 0,
                          "charge": "abc", "service_date": line["service_date"],
                          "diagnosis_pointers": [13]}],
               "place_of_service": "1"}),
        &etag(&draft),
    )
    .await;
    assert_eq!(
        error_fields(&bad),
        [
            "place_of_service",
            "lines[0].cpt_code",
            "lines[0].units",
            "lines[0].charge",
            "lines[0].diagnosis_pointers"
        ]
    );
    // An add-on code alone: the database takes the draft, the scrubber holds it.
    let mut add_on = line_input(&line);
    add_on["cpt_code"] = json!("90785");
    let edited = put(
        &app,
        &url,
        &people.biller,
        json!({"diagnoses": diagnosis_inputs(&draft.body), "lines": [add_on]}),
        &etag(&draft),
    )
    .await;
    assert_status(&edited, StatusCode::OK);
    assert_eq!(edited.body["lines"][0]["cpt_code"], "90785");
    let stale = put(
        &app,
        &url,
        &people.biller,
        json!({"diagnoses": diagnosis_inputs(&draft.body), "lines": [line_input(&line)]}),
        &etag(&draft),
    )
    .await;
    assert_problem(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        None,
    );

    let held = app
        .call(
            Method::POST,
            &format!("{url}/ready"),
            Some(&people.biller),
            None,
            &[("if-match", &etag(&edited))],
        )
        .await;
    assert_problem(&held, StatusCode::UNPROCESSABLE_ENTITY, "invalid", None);
    let findings = held.body["findings"].as_array().unwrap();
    let errors: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(!errors.is_empty(), "{:?}", held.body);
    assert!(
        errors
            .iter()
            .all(|f| f["field"].is_string() && !f["message"].as_str().unwrap().is_empty())
    );
    assert!(
        errors
            .iter()
            .any(|f| f["field"].as_str().unwrap().starts_with("lines[")),
        "the add-on line is named: {findings:?}"
    );
    assert_eq!(held.body["field"], errors[0]["field"]);
    assert_eq!(status_of(&app, claim).await, "draft");

    // Put right, it becomes ready; a second time is a conflict.
    let fixed = put(
        &app,
        &url,
        &people.biller,
        json!({"diagnoses": diagnosis_inputs(&draft.body), "lines": [line_input(&line)]}),
        &etag(&edited),
    )
    .await;
    assert_status(&fixed, StatusCode::OK);
    assert_eq!(
        fixed.body["scrub"]["clean"], true,
        "{:?}",
        fixed.body["scrub"]
    );
    let without_version = app
        .call(
            Method::POST,
            &format!("{url}/ready"),
            Some(&people.biller),
            None,
            &[],
        )
        .await;
    assert_problem(
        &without_version,
        StatusCode::PRECONDITION_REQUIRED,
        "version-required",
        None,
    );
    let ready = app
        .call(
            Method::POST,
            &format!("{url}/ready"),
            Some(&people.biller),
            None,
            &[("if-match", &etag(&fixed))],
        )
        .await;
    assert_status(&ready, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    let again = app
        .call(
            Method::POST,
            &format!("{url}/ready"),
            Some(&people.biller),
            None,
            &[("if-match", &etag(&ready))],
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict", Some("status"));
    let frozen = put(
        &app,
        &url,
        &people.biller,
        json!({"diagnoses": diagnosis_inputs(&draft.body), "lines": [line_input(&line)]}),
        &etag(&ready),
    )
    .await;
    assert_problem(&frozen, StatusCode::CONFLICT, "conflict", Some("status"));

    // Billing past the authorization is an admin's decision, with a reason.
    let override_url = format!("{url}/authorization-override");
    assert_problem(
        &post(
            &app,
            &override_url,
            &people.biller,
            json!({"reason": "Payer approved by phone"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_problem(
        &post(&app, &override_url, &people.admin, json!({"reason": ""})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("reason"),
    );
    let overridden = post(
        &app,
        &override_url,
        &people.admin,
        json!({"reason": "Payer approved by phone"}),
    )
    .await;
    assert_status(&overridden, StatusCode::OK);
    assert_eq!(
        overridden.body["authorization_override_reason"],
        "Payer approved by phone"
    );

    // The 837P: downloaded as made, the claim submitted, the file kept to download again.
    assert_problem(
        &post(
            &app,
            "/api/v1/claims/exports",
            &people.provider,
            json!({"claim_ids": [claim]}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    let exported = post(
        &app,
        "/api/v1/claims/exports",
        &people.biller,
        json!({"claim_ids": [claim]}),
    )
    .await;
    assert_status(&exported, StatusCode::OK);
    assert_eq!(
        exported.headers[header::CONTENT_TYPE],
        "application/edi-x12"
    );
    let disposition = exported.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"837P-"),
        "{disposition}"
    );
    let file = exported.body.as_str().unwrap().to_owned();
    assert!(file.starts_with("ISA*"), "{file}");
    assert!(file.contains("ST*837*"));
    assert!(file.contains(&format!("CLM*{claim_number}*")), "{file}");
    assert_eq!(status_of(&app, claim).await, "submitted");
    let location = exported.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let download = app.get(&location, &people.biller).await;
    assert_status(&download, StatusCode::OK);
    assert_eq!(download.body.as_str().unwrap(), file, "exactly as sent");
    assert_problem(
        &app.get(&location, &people.other_biller).await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );
    let exports = app
        .get("/api/v1/claims/exports?limit=200", &people.biller)
        .await;
    let export = exports.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| location.ends_with(e["id"].as_str().unwrap()))
        .unwrap()
        .clone();
    assert_eq!(export["claim_numbers"], json!([claim_number]));
    assert_eq!(export["claim_count"], 1);
    let twice = post(
        &app,
        "/api/v1/claims/exports",
        &people.biller,
        json!({"claim_ids": [claim]}),
    )
    .await;
    assert_problem(&twice, StatusCode::CONFLICT, "conflict", Some("claim_ids"));

    // The CMS-1500 for paper payers.
    let pdf = app
        .get(&format!("{url}/cms1500.pdf?paper=red"), &people.biller)
        .await;
    assert_status(&pdf, StatusCode::OK);
    assert_eq!(pdf.headers[header::CONTENT_TYPE], "application/pdf");
    assert!(pdf.body.as_str().unwrap().starts_with("%PDF"));
    assert!(
        pdf.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(&claim_number)
    );
    let plain = app.get(&format!("{url}/cms1500.pdf"), &people.biller).await;
    assert!(plain.body.as_str().unwrap().starts_with("%PDF"));
    assert_problem(
        &app.get(&format!("{url}/cms1500.pdf?paper=blue"), &people.biller)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        None,
    );
    assert_problem(
        &app.get(&format!("{url}/cms1500.pdf"), &people.other_biller)
            .await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );

    // The 835: reviewed, posted, posted again (nothing changes).
    let charge = cents(fixed.body["lines"][0]["charge"].as_str().unwrap());
    let text = remittance(
        "EFT-API-1",
        &claim_number,
        line["cpt_code"].as_str().unwrap(),
        charge,
        line["service_date"].as_str().unwrap(),
    );
    let remittances_before = app
        .get("/api/v1/remittances?limit=200", &people.biller)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    let preview = post_text(&app, "/api/v1/remittances/preview", &people.biller, &text).await;
    assert_status(&preview, StatusCode::OK);
    assert_eq!(preview.body["balanced"], true, "{:?}", preview.body);
    let payment = &preview.body["payments"][0];
    assert_eq!(payment["already_posted"], false);
    assert_eq!(payment["claims"][0]["claim_id"], claim.to_string());
    assert_eq!(payment["claims"][0]["status_after"], "paid");
    assert_eq!(payment["unmatched"], json!(["NOSUCHCLAIM"]));
    assert_eq!(
        status_of(&app, claim).await,
        "submitted",
        "a preview writes nothing"
    );
    assert_problem(
        &post_text(&app, "/api/v1/remittances", &people.provider, &text).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_problem(
        &post_text(
            &app,
            "/api/v1/remittances/preview",
            &people.biller,
            "not an 835",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("body"),
    );
    let posted = post_text(&app, "/api/v1/remittances", &people.biller, &text).await;
    assert_status(&posted, StatusCode::OK);
    assert_eq!(posted.body["payments"][0]["already_posted"], false);
    assert_eq!(status_of(&app, claim).await, "paid");
    let paid = app.get(&url, &people.biller).await;
    assert_eq!(
        cents(paid.body["paid_amount"].as_str().unwrap()),
        charge * 8 / 10
    );
    assert_eq!(
        cents(
            paid.body["lines"][0]["patient_responsibility"]
                .as_str()
                .unwrap()
        ),
        charge - charge * 8 / 10
    );
    let again = post_text(&app, "/api/v1/remittances", &people.biller, &text).await;
    assert_status(&again, StatusCode::OK);
    assert_eq!(again.body["payments"][0]["already_posted"], true);
    assert_eq!(
        again.body["payments"][0]["claims"],
        posted.body["payments"][0]["claims"]
    );
    assert_eq!(
        app.get(&url, &people.biller).await.body,
        paid.body,
        "nothing changed"
    );
    let remittances = app
        .get("/api/v1/remittances?limit=200", &people.biller)
        .await;
    assert_eq!(
        remittances.body["items"].as_array().unwrap().len(),
        remittances_before + 1
    );
    let theirs = app
        .get("/api/v1/remittances?limit=200", &people.other_biller)
        .await;
    assert!(
        !theirs.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trace_number"] == "EFT-API-1"),
        "another practice does not see it"
    );
    app.close().await;
}
