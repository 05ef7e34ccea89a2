//! Payers, a patient's coverage and the payer's authorization over HTTP, against the real
//! database: kept by billers (payers) and by billers and the front desk (coverage), read by
//! everyone of the practice, invisible to another practice (404); every field at fault named
//! at once; versions (If-Match) and retries (Idempotency-Key); one active coverage per priority;
//! the authorization's usage warning from 80%.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod billing_support;
mod common;

use axum::http::{Method, StatusCode};
use billing_support::*;
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn billers_keep_payers_everyone_reads_them_another_practice_never() {
    let app = TestApp::spawn().await;
    let people = People::sign_in(&app).await;
    let body = json!({"name": "Cedar Valley Health", "payer_id": "CVH01",
                      "requires_prior_authorization": true, "city": "Hartford", "state": "CT",
                      "postal_code": "06103"});

    let made = post_with(
        &app,
        "/api/v1/payers",
        &people.biller,
        body.clone(),
        &[("idempotency-key", "payer-1")],
    )
    .await;
    assert_status(&made, StatusCode::CREATED);
    let payer = id(&made);
    let url = format!("/api/v1/payers/{payer}");
    assert_eq!(made.headers["location"], url.as_str());
    assert_eq!(made.body["payer_id"], "CVH01");
    assert_eq!(made.body["is_active"], true);
    // A retry is answered again, not made again; the key with another body is refused.
    let retried = post_with(
        &app,
        "/api/v1/payers",
        &people.biller,
        body.clone(),
        &[("idempotency-key", "payer-1")],
    )
    .await;
    assert_status(&retried, StatusCode::CREATED);
    assert_eq!(id(&retried), payer);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    let reused = post_with(
        &app,
        "/api/v1/payers",
        &people.biller,
        json!({"name": "Another", "payer_id": "ANO01"}),
        &[("idempotency-key", "payer-1")],
    )
    .await;
    assert_problem(
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("Idempotency-Key"),
    );
    // The same payer id twice in one practice: 409 on the field.
    let twice = post(&app, "/api/v1/payers", &people.admin, body.clone()).await;
    assert_problem(&twice, StatusCode::CONFLICT, "conflict", Some("payer_id"));

    // Every field at fault, at once, the first in `field`.
    let bad = post(
        &app,
        "/api/v1/payers",
        &people.biller,
        json!({"name": " ", "payer_id": "C-1", "state": "ct", "postal_code": "0610"}),
    )
    .await;
    assert_eq!(
        error_fields(&bad),
        ["name", "payer_id", "state", "postal_code"]
    );
    assert_eq!(bad.body["field"], "name");

    // Clinicians and the front desk read payers but do not keep them.
    for token in [&people.provider, &people.staff] {
        let refused = post(
            &app,
            "/api/v1/payers",
            token,
            json!({"name": "Nope", "payer_id": "NOPE1"}),
        )
        .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden", None);
        assert_status(&app.get(&url, token).await, StatusCode::OK);
    }

    // Changes need the current version.
    let read = app.get(&url, &people.biller).await;
    let unversioned = app
        .call(
            Method::PATCH,
            &url,
            Some(&people.biller),
            Some(json!({"phone": "860-555-0100"})),
            &[],
        )
        .await;
    assert_problem(
        &unversioned,
        StatusCode::PRECONDITION_REQUIRED,
        "version-required",
        None,
    );
    let changed = patch(
        &app,
        &url,
        &people.biller,
        json!({"phone": "860-555-0100", "city": null}),
        &etag(&read),
    )
    .await;
    assert_status(&changed, StatusCode::OK);
    assert_eq!(changed.body["phone"], "860-555-0100");
    assert_eq!(changed.body["city"], serde_json::Value::Null);
    assert_eq!(changed.body["state"], "CT", "kept");
    let stale = patch(
        &app,
        &url,
        &people.biller,
        json!({"phone": "1"}),
        &etag(&read),
    )
    .await;
    assert_problem(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        None,
    );
    let by_provider = patch(
        &app,
        &url,
        &people.provider,
        json!({"phone": "1"}),
        &etag(&changed),
    )
    .await;
    assert_problem(&by_provider, StatusCode::FORBIDDEN, "forbidden", None);
    let bad_change = patch(
        &app,
        &url,
        &people.biller,
        json!({"payer_id": "x", "postal_code": "abcde"}),
        &etag(&changed),
    )
    .await;
    assert_eq!(error_fields(&bad_change), ["payer_id", "postal_code"]);

    // Deactivated: out of the list unless asked for.
    let deactivated = patch(
        &app,
        &url,
        &people.admin,
        json!({"is_active": false}),
        &etag(&changed),
    )
    .await;
    assert_status(&deactivated, StatusCode::OK);
    assert_eq!(deactivated.body["is_active"], false);
    let listed = |answer: &common::Answer| {
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == payer.to_string())
    };
    let active = app.get("/api/v1/payers", &people.staff).await;
    assert_status(&active, StatusCode::OK);
    assert!(!listed(&active));
    assert_eq!(
        active.body["items"].as_array().unwrap().len(),
        2,
        "the demo's two"
    );
    let all = app
        .get("/api/v1/payers?include_inactive=true", &people.staff)
        .await;
    assert!(listed(&all));
    // A page at a time.
    let first = app.get("/api/v1/payers?limit=1", &people.biller).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 1);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(
            &format!("/api/v1/payers?limit=1&cursor={cursor}"),
            &people.biller,
        )
        .await;
    assert_ne!(second.body["items"][0]["id"], first.body["items"][0]["id"]);
    assert_problem(
        &app.get("/api/v1/payers?limit=0", &people.biller).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("limit"),
    );

    // Another practice: not found, whatever the method; not in its list.
    assert_problem(
        &app.get(&url, &people.other_biller).await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );
    let theirs = patch(
        &app,
        &url,
        &people.other_biller,
        json!({"name": "Taken"}),
        "*",
    )
    .await;
    assert_problem(&theirs, StatusCode::NOT_FOUND, "not-found", None);
    let their_list = app
        .get("/api/v1/payers?include_inactive=true", &people.other_biller)
        .await;
    assert!(!listed(&their_list));
    // Anonymous: 401.
    let anonymous = app
        .call(Method::GET, "/api/v1/payers", None, None, &[])
        .await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized", None);
    app.close().await;
}

#[tokio::test]
async fn coverage_is_ranked_one_active_per_priority_with_its_authorization_usage() {
    let app = TestApp::spawn().await;
    let people = People::sign_in(&app).await;
    let patient = uninsured_patient(&app, ORG_A).await;
    let payer = payer_of(&app, ORG_A, "BHHP1").await;
    let list_url = format!("/api/v1/patients/{patient}/insurance");
    let body = json!({
        "insurance_payer_id": payer, "priority": "primary", "member_id": "M-778812",
        "group_number": "G-2001", "effective_from": "2026-01-01",
        "authorization": {"number": "AUTH-77", "start_on": "2026-01-01", "end_on": "2026-06-30",
                          "cpt_codes": ["90834", "90837"], "authorized_sessions": 10}
    });

    // The front desk adds it at check-in; a retry does not add it twice.
    let made = post_with(
        &app,
        &list_url,
        &people.staff,
        body.clone(),
        &[("idempotency-key", "coverage-1")],
    )
    .await;
    assert_status(&made, StatusCode::CREATED);
    let coverage = id(&made);
    let url = format!("/api/v1/insurance/{coverage}");
    assert_eq!(made.headers["location"], url.as_str());
    assert_eq!(made.body["payer"]["payer_id"], "BHHP1");
    assert_eq!(made.body["subscriber_relationship"], "self");
    assert_eq!(made.body["authorization"]["number"], "AUTH-77");
    assert_eq!(
        made.body["authorization"]["usage"],
        json!({"used": 0, "authorized": 10, "remaining": 10, "percent": 0, "warning": false})
    );
    let retried = post_with(
        &app,
        &list_url,
        &people.staff,
        body.clone(),
        &[("idempotency-key", "coverage-1")],
    )
    .await;
    assert_eq!(id(&retried), coverage);
    assert_eq!(retried.headers["idempotent-replayed"], "true");

    // One active primary: a second is 409 on `priority`; a secondary is welcome.
    let second_primary = post(&app, &list_url, &people.biller, body.clone()).await;
    assert_problem(
        &second_primary,
        StatusCode::CONFLICT,
        "conflict",
        Some("priority"),
    );
    let secondary = post(
        &app,
        &list_url,
        &people.biller,
        json!({"insurance_payer_id": payer_of(&app, ORG_A, "SMI01").await, "priority": "secondary",
               "member_id": "S-1", "effective_from": "2026-01-01",
               "subscriber_relationship": "spouse", "subscriber_first_name": "Robin",
               "subscriber_last_name": "Quill", "subscriber_date_of_birth": "1980-05-06"}),
    )
    .await;
    assert_status(&secondary, StatusCode::CREATED);
    assert_eq!(secondary.body["authorization"], serde_json::Value::Null);

    // Every field at fault at once.
    let bad = post(
        &app,
        &list_url,
        &people.biller,
        json!({"insurance_payer_id": payer, "priority": "tertiary", "member_id": "",
               "subscriber_relationship": "child", "effective_from": "2026-02-30",
               "authorization": {"start_on": "2026-05-01", "end_on": "2026-04-01",
                                 "cpt_codes": ["90834", "12345"], "authorized_sessions": -1}}),
    )
    .await;
    assert_eq!(
        error_fields(&bad),
        [
            "member_id",
            "subscriber_first_name",
            "subscriber_last_name",
            "subscriber_date_of_birth",
            "effective_from",
            "authorization.end_on",
            "authorization.authorized_sessions",
        ]
    );
    let unknown_code = post(
        &app,
        &list_url,
        &people.biller,
        json!({"insurance_payer_id": payer, "priority": "tertiary", "member_id": "T-1",
               "effective_from": "2026-01-01", "authorization": {"cpt_codes": ["90834", "12345"]}}),
    )
    .await;
    assert_eq!(error_fields(&unknown_code), ["authorization.cpt_codes[1]"]);
    let other_payer = post(
        &app,
        &list_url,
        &people.biller,
        json!({"insurance_payer_id": payer_of(&app, ORG_B, "BHHP1").await, "priority": "tertiary",
               "member_id": "T-1", "effective_from": "2026-01-01"}),
    )
    .await;
    assert_eq!(error_fields(&other_payer), ["insurance_payer_id"]);

    // Clinicians read coverage (the chart shows it) but do not change it.
    let by_provider = post(
        &app,
        &list_url,
        &people.provider,
        json!({"insurance_payer_id": payer, "priority": "tertiary", "member_id": "T-1",
               "effective_from": "2026-01-01"}),
    )
    .await;
    assert_problem(&by_provider, StatusCode::FORBIDDEN, "forbidden", None);
    let listed = app.get(&list_url, &people.provider).await;
    assert_status(&listed, StatusCode::OK);
    let priorities: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_str().unwrap())
        .collect();
    assert_eq!(priorities, ["primary", "secondary"]);

    // Sessions used are the database's to count; the usage warns from 80%.
    sqlx::query("update patient_insurance set sessions_used = 8 where id = $1")
        .bind(coverage)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let read = app.get(&url, &people.biller).await;
    assert_eq!(
        read.body["authorization"]["usage"],
        json!({"used": 8, "authorized": 10, "remaining": 2, "percent": 80, "warning": true})
    );
    let too_few = patch(
        &app,
        &url,
        &people.biller,
        json!({"authorization": {"number": "AUTH-77", "authorized_sessions": 5,
                                 "sessions_used": 0}}),
        &etag(&read),
    )
    .await;
    assert_eq!(
        error_fields(&too_few),
        ["authorization.authorized_sessions"]
    );
    let removed = patch(
        &app,
        &url,
        &people.biller,
        json!({"authorization": null}),
        &etag(&read),
    )
    .await;
    assert_eq!(error_fields(&removed), ["authorization"]);
    let renewed = patch(
        &app,
        &url,
        &people.biller,
        json!({"authorization": {"number": "AUTH-78", "start_on": "2026-01-01",
                                 "end_on": "2026-12-31", "authorized_sessions": 20,
                                 "sessions_used": 0},
               "group_number": null}),
        &etag(&read),
    )
    .await;
    assert_status(&renewed, StatusCode::OK);
    assert_eq!(renewed.body["group_number"], serde_json::Value::Null);
    assert_eq!(renewed.body["member_id"], "M-778812", "kept");
    assert_eq!(renewed.body["authorization"]["cpt_codes"], json!([]));
    assert_eq!(
        renewed.body["authorization"]["usage"],
        json!({"used": 8, "authorized": 20, "remaining": 12, "percent": 40, "warning": false}),
        "sessions_used is not taken from the request"
    );
    let stale = patch(
        &app,
        &url,
        &people.biller,
        json!({"member_id": "M-1"}),
        &etag(&read),
    )
    .await;
    assert_problem(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        None,
    );
    let provider_change = patch(
        &app,
        &url,
        &people.provider,
        json!({"member_id": "M-1"}),
        &etag(&renewed),
    )
    .await;
    assert_problem(&provider_change, StatusCode::FORBIDDEN, "forbidden", None);
    // Becoming the subscriber's dependant needs the subscriber.
    let dependant = patch(
        &app,
        &url,
        &people.staff,
        json!({"subscriber_relationship": "child"}),
        &etag(&renewed),
    )
    .await;
    assert_eq!(
        error_fields(&dependant),
        [
            "subscriber_first_name",
            "subscriber_last_name",
            "subscriber_date_of_birth"
        ]
    );

    // Another practice sees none of it.
    for path in [&url, &list_url] {
        assert_problem(
            &app.get(path, &people.other_biller).await,
            StatusCode::NOT_FOUND,
            "not-found",
            None,
        );
    }
    assert_problem(
        &patch(
            &app,
            &url,
            &people.other_biller,
            json!({"member_id": "X"}),
            "*",
        )
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );
    assert_problem(
        &post(&app, &format!("{url}/end"), &people.other_biller, json!({})).await,
        StatusCode::NOT_FOUND,
        "not-found",
        None,
    );

    // Ended: inactive, its priority free for the new coverage; ending twice is 409.
    let before_start = post(
        &app,
        &format!("{url}/end"),
        &people.staff,
        json!({"ended_on": "2025-12-31"}),
    )
    .await;
    assert_problem(
        &before_start,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("ended_on"),
    );
    assert_problem(
        &post(&app, &format!("{url}/end"), &people.provider, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    let ended = post(
        &app,
        &format!("{url}/end"),
        &people.staff,
        json!({"ended_on": "2026-03-31"}),
    )
    .await;
    assert_status(&ended, StatusCode::OK);
    assert_eq!(ended.body["is_active"], false);
    assert_eq!(ended.body["effective_to"], "2026-03-31");
    assert_problem(
        &post(&app, &format!("{url}/end"), &people.staff, json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    let new_primary = post(
        &app,
        &list_url,
        &people.staff,
        json!({"insurance_payer_id": payer, "priority": "primary", "member_id": "M-900",
               "effective_from": "2026-04-01"}),
    )
    .await;
    assert_status(&new_primary, StatusCode::CREATED);
    let order: Vec<(String, bool)> = app.get(&list_url, &people.biller).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["member_id"].as_str().unwrap().to_owned(),
                c["is_active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("M-900".to_owned(), true),
            ("S-1".to_owned(), true),
            ("M-778812".to_owned(), false)
        ]
    );
    app.close().await;
}
