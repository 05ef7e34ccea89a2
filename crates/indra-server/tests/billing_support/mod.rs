//! What the billing tests share: the two demo practices' people, and answers checked as the API
//! conventions say (problem documents, ETags, ids).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support"
)]

use axum::http::{Method, StatusCode, header};
use serde_json::Value;
use uuid::Uuid;

use crate::common::{Answer, TestApp};

pub const ORG_A: usize = 0;
pub const ORG_B: usize = 1;

/// The demo practices' people, signed in.
pub struct People {
    pub admin: String,
    pub biller: String,
    pub staff: String,
    pub provider: String,
    /// The other practice's biller.
    pub other_biller: String,
}

impl People {
    pub async fn sign_in(app: &TestApp) -> Self {
        Self {
            admin: app.sign_in(&app.email_of(ORG_A, "admin").await).await,
            biller: app.sign_in(&app.email_of(ORG_A, "billing").await).await,
            staff: app.sign_in(&app.email_of(ORG_A, "staff").await).await,
            provider: app.sign_in(&app.email_of(ORG_A, "provider").await).await,
            other_biller: app.sign_in(&app.email_of(ORG_B, "billing").await).await,
        }
    }
}

pub async fn org_id(app: &TestApp, org_index: usize) -> Uuid {
    sqlx::query_scalar("select org_id from users where email = $1")
        .bind(app.email_of(org_index, "admin").await)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

pub fn etag(answer: &Answer) -> String {
    answer
        .headers
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag: {:?}", answer.body))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn id(answer: &Answer) -> Uuid {
    answer.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {:?}", answer.body))
        .parse()
        .unwrap()
}

#[track_caller]
pub fn assert_status(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
}

/// The answer is a problem document of this status, `type` and (when given) field.
#[track_caller]
pub fn assert_problem(answer: &Answer, status: StatusCode, kind: &str, field: Option<&str>) {
    assert_status(answer, status);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(answer.body["type"], format!("/problems/{kind}"));
    if let Some(field) = field {
        assert_eq!(answer.body["field"], field, "{:?}", answer.body);
    }
}

/// The fields a 422 names in `errors`, in order.
#[track_caller]
pub fn error_fields(answer: &Answer) -> Vec<String> {
    assert_problem(answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid", None);
    answer.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {:?}", answer.body))
        .iter()
        .map(|e| {
            assert!(e["detail"].as_str().is_some_and(|d| !d.is_empty()));
            e["field"].as_str().unwrap().to_owned()
        })
        .collect()
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Answer {
    app.call(Method::POST, path, Some(token), Some(body), &[])
        .await
}

pub async fn post_with(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Answer {
    app.call(Method::POST, path, Some(token), Some(body), headers)
        .await
}

pub async fn patch(app: &TestApp, path: &str, token: &str, body: Value, if_match: &str) -> Answer {
    app.call(
        Method::PATCH,
        path,
        Some(token),
        Some(body),
        &[("if-match", if_match)],
    )
    .await
}

pub async fn put(app: &TestApp, path: &str, token: &str, body: Value, if_match: &str) -> Answer {
    app.call(
        Method::PUT,
        path,
        Some(token),
        Some(body),
        &[("if-match", if_match)],
    )
    .await
}

/// A demo patient of the practice without any coverage (every sixth pays for themself).
pub async fn uninsured_patient(app: &TestApp, org_index: usize) -> Uuid {
    sqlx::query_scalar(
        "select p.id from patients p
          where p.org_id = $1 and not exists (select 1 from patient_insurance i where i.patient_id = p.id)
          order by p.mrn limit 1",
    )
    .bind(org_id(app, org_index).await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// The id of a demo payer of the practice by its electronic payer id.
pub async fn payer_of(app: &TestApp, org_index: usize, payer_id: &str) -> Uuid {
    sqlx::query_scalar("select id from insurance_payers where org_id = $1 and payer_id = $2")
        .bind(org_id(app, org_index).await)
        .bind(payer_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}
