//! The API's conventions over HTTP, against the real database (docs/api-conventions.md):
//! versions and If-Match, idempotent retries, problem documents, the organization wall answered
//! as 404, cursor pagination, and the providers endpoints built on all of them.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Answer, PASSWORD, TestApp};
use indra_rules::platform::npi::npi_with_check_digit;
use serde_json::{Value, json};
use uuid::Uuid;

/// The demo organizations, as `email_of` numbers them.
const ORG_A: usize = 0;
const ORG_B: usize = 1;

fn etag(answer: &Answer) -> String {
    answer
        .headers
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag: {:?}", answer.body))
        .to_str()
        .unwrap()
        .to_owned()
}

fn id(answer: &Answer) -> Uuid {
    answer.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {:?}", answer.body))
        .parse()
        .unwrap()
}

/// The answer is a problem document of this status, `type` and (when given) field.
#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, kind: &str, field: Option<&str>) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(answer.body["type"], format!("/problems/{kind}"));
    assert_eq!(answer.body["status"], status.as_u16());
    assert!(answer.body["title"].is_string() && answer.body["detail"].is_string());
    if let Some(field) = field {
        assert_eq!(answer.body["field"], field, "{:?}", answer.body);
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value, key: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    app.call(Method::POST, path, Some(token), Some(body), &headers)
        .await
}

async fn patch(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
    if_match: Option<&str>,
) -> Answer {
    let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
    app.call(Method::PATCH, path, Some(token), Some(body), &headers)
        .await
}

async fn user_id(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar("select id from users where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn org_id(app: &TestApp, org_index: usize) -> Uuid {
    sqlx::query_scalar("select org_id from users where email = $1")
        .bind(app.email_of(org_index, "admin").await)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// A second admin of organization A, signed in: "someone else" in a concurrent edit.
async fn second_admin(app: &TestApp, admin: &str) -> String {
    let created = post(
        app,
        "/api/v1/users",
        admin,
        json!({"email": "second.admin@conventions.example", "full_name": "Second Admin",
               "role": "admin", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    app.sign_in("second.admin@conventions.example").await
}

/// A valid provider body for `user_id`, with an NPI made from `npi9`.
fn new_provider(user_id: Uuid, npi9: &str) -> Value {
    json!({
        "user_id": user_id, "first_name": "Avery", "last_name": "Testwell", "credentials": "LPC",
        "npi": npi_with_check_digit(npi9), "license_number": "LPC-1234", "license_state": "TX",
        "taxonomy_code": "101YP2500X", "preferred_note_format": "BIRP",
        "requires_supervision": false, "supervisor_id": null,
    })
}

/// A new user of the caller's organization (a future clinician), by id.
async fn new_user(app: &TestApp, admin: &str, email: &str) -> Uuid {
    let created = post(
        app,
        "/api/v1/users",
        admin,
        json!({"email": email, "full_name": "Avery Testwell", "role": "provider"}),
        None,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    id(&created)
}

#[tokio::test]
async fn a_change_must_name_the_current_version() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    let other_admin = second_admin(&app, &admin).await;
    let target = user_id(&app, &app.email_of(ORG_A, "billing").await).await;
    let path = format!("/api/v1/users/{target}");
    let read = app.get(&path, &admin).await;
    let first_etag = etag(&read);

    // No If-Match: 428, nothing changes.
    let missing = patch(&app, &path, &admin, json!({"full_name": "Mine"}), None).await;
    assert_problem(
        &missing,
        StatusCode::PRECONDITION_REQUIRED,
        "version-required",
        None,
    );

    // Someone else changes it first.
    let theirs = patch(
        &app,
        &path,
        &other_admin,
        json!({"full_name": "Theirs"}),
        Some(&first_etag),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::OK, "{:?}", theirs.body);
    assert_ne!(etag(&theirs), first_etag);

    // Our change, made on the version we read, is refused and changes nothing.
    let stale = patch(
        &app,
        &path,
        &admin,
        json!({"full_name": "Mine", "role": "staff"}),
        Some(&first_etag),
    )
    .await;
    assert_problem(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        None,
    );
    let now = app.get(&path, &admin).await;
    assert_eq!(now.body["full_name"], "Theirs");
    assert_eq!(now.body["role"], "billing");
    assert_eq!(etag(&now), etag(&theirs));

    // Reloaded, with the current version: it goes through and the version moves on.
    let mine = patch(
        &app,
        &path,
        &admin,
        json!({"full_name": "Mine"}),
        Some(&etag(&now)),
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK, "{:?}", mine.body);
    assert_eq!(mine.body["full_name"], "Mine");
    assert_ne!(etag(&mine), etag(&now));
    assert_eq!(etag(&app.get(&path, &admin).await), etag(&mine));

    // `*` names whatever version is current; a list of tags is accepted when one is current.
    let any = patch(&app, &path, &admin, json!({"full_name": "Any"}), Some("*")).await;
    assert_eq!(any.status, StatusCode::OK);
    let listed = format!("\"nope\", {}", etag(&any));
    let in_list = patch(
        &app,
        &path,
        &admin,
        json!({"full_name": "Listed"}),
        Some(&listed),
    )
    .await;
    assert_eq!(in_list.status, StatusCode::OK, "{:?}", in_list.body);
    app.close().await;
}

#[tokio::test]
async fn a_retried_creation_is_answered_once() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    let body =
        json!({"email": "retry@conventions.example", "full_name": "Retry Once", "role": "staff"});

    let first = post(
        &app,
        "/api/v1/users",
        &admin,
        body.clone(),
        Some("create-retry-1"),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let again = post(
        &app,
        "/api/v1/users",
        &admin,
        body.clone(),
        Some("create-retry-1"),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body, "the first answer, again");
    let created: i64 = sqlx::query_scalar("select count(*) from users where email = $1")
        .bind("retry@conventions.example")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(created, 1);

    // The same key for another request is a client bug: refused, nothing created.
    let other_body =
        json!({"email": "other@conventions.example", "full_name": "Other", "role": "staff"});
    let reused = post(
        &app,
        "/api/v1/users",
        &admin,
        other_body.clone(),
        Some("create-retry-1"),
    )
    .await;
    assert_problem(
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("Idempotency-Key"),
    );
    let other_exists: i64 = sqlx::query_scalar("select count(*) from users where email = $1")
        .bind("other@conventions.example")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(other_exists, 0);

    // Keys belong to their user: another admin of the same practice, and an admin of another
    // practice, use the same key string for their own requests.
    let colleague = second_admin(&app, &admin).await;
    let theirs = post(
        &app,
        "/api/v1/users",
        &colleague,
        other_body,
        Some("create-retry-1"),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{:?}", theirs.body);
    assert!(!theirs.headers.contains_key("idempotent-replayed"));
    let admin_b = app.sign_in(&app.email_of(ORG_B, "admin").await).await;
    let elsewhere = post(
        &app,
        "/api/v1/users",
        &admin_b,
        json!({"email": "elsewhere@conventions.example", "full_name": "Elsewhere", "role": "staff"}),
        Some("create-retry-1"),
    )
    .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::CREATED,
        "{:?}",
        elsewhere.body
    );
    let ids: BTreeSet<Uuid> = [&first, &theirs, &elsewhere].into_iter().map(id).collect();
    assert_eq!(ids.len(), 3);

    // Without a key, a retry is a second request: here it conflicts with the first.
    let unkeyed = post(&app, "/api/v1/users", &admin, body, None).await;
    assert_problem(&unkeyed, StatusCode::CONFLICT, "conflict", Some("email"));
    app.close().await;
}

#[tokio::test]
async fn errors_are_problem_documents() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    let provider = app.sign_in(&app.email_of(ORG_A, "provider").await).await;

    let taken = app.email_of(ORG_A, "billing").await;
    let duplicate = post(
        &app,
        "/api/v1/users",
        &admin,
        json!({"email": taken.to_uppercase(), "full_name": "Dup", "role": "staff"}),
        None,
    )
    .await;
    assert_problem(&duplicate, StatusCode::CONFLICT, "conflict", Some("email"));

    let user = new_user(&app, &admin, "npi@conventions.example").await;
    let mut bad_npi = new_provider(user, "555555555");
    bad_npi["npi"] = json!("1234567890");
    let invalid = post(&app, "/api/v1/providers", &admin, bad_npi, None).await;
    assert_problem(
        &invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("npi"),
    );

    let refused = post(
        &app,
        "/api/v1/users",
        &provider,
        json!({"email": "nope@conventions.example", "full_name": "Nope", "role": "admin"}),
        None,
    )
    .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden", None);

    let anonymous = app
        .call(Method::GET, "/api/v1/users", None, None, &[])
        .await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized", None);

    let missing = app
        .get(&format!("/api/v1/users/{}", Uuid::new_v4()), &admin)
        .await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not-found", None);

    let garbage = app.get("/api/v1/users?limit=0", &admin).await;
    assert_problem(
        &garbage,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("limit"),
    );

    let malformed = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/users")
                .header(header::AUTHORIZATION, format!("Bearer {admin}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"email": "x@y.example", "full_name": "#))
                .unwrap(),
        )
        .await;
    assert!(malformed.status.is_client_error(), "{:?}", malformed.status);
    app.close().await;
}

#[tokio::test]
async fn another_organizations_records_are_not_found() {
    let app = TestApp::spawn().await;
    let admin_a = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    let org_b = org_id(&app, ORG_B).await;
    let user_b = user_id(&app, &app.email_of(ORG_B, "billing").await).await;
    let provider_b: Uuid =
        sqlx::query_scalar("select id from providers where org_id = $1 order by npi limit 1")
            .bind(org_b)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let snapshot = |app: &TestApp| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select (select row_to_json(u)::text from users u where id = $1) || (select row_to_json(p)::text from providers p where id = $2)",
            )
            .bind(user_b)
            .bind(provider_b)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = snapshot(&app).await;

    for (path, change) in [
        (
            format!("/api/v1/users/{user_b}"),
            json!({"full_name": "Taken Over", "role": "admin"}),
        ),
        (
            format!("/api/v1/providers/{provider_b}"),
            json!({"npi": npi_with_check_digit("999999999"), "is_active": false}),
        ),
    ] {
        let read = app.get(&path, &admin_a).await;
        assert_problem(&read, StatusCode::NOT_FOUND, "not-found", None);
        for if_match in [Some("*"), None, Some("\"guessed\"")] {
            let write = patch(&app, &path, &admin_a, change.clone(), if_match).await;
            // Never 403, 412 or 428: each would say that the record exists.
            assert_problem(&write, StatusCode::NOT_FOUND, "not-found", None);
        }
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed in B");

    // Nor can a record of A point into B.
    let user_a = new_user(&app, &admin_a, "wall@conventions.example").await;
    let mut pointing = new_provider(user_a, "777777777");
    pointing["requires_supervision"] = json!(true);
    pointing["supervisor_id"] = json!(provider_b);
    let refused = post(&app, "/api/v1/providers", &admin_a, pointing, None).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    let foreign_user = post(
        &app,
        "/api/v1/providers",
        &admin_a,
        new_provider(user_b, "777777778"),
        None,
    )
    .await;
    assert_eq!(
        foreign_user.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        foreign_user.body
    );
    app.close().await;
}

/// Walks a list with `limit`, returning every id in order and the number of pages.
async fn walk(app: &TestApp, list: &str, token: &str, limit: u32) -> (Vec<Uuid>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{list}?limit={limit}&cursor={c}"),
            None => format!("{list}?limit={limit}"),
        };
        let page = app.get(&path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        pages += 1;
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        ids.extend(
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit as usize, "only the last page is short");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
        assert!(pages < 100, "the walk does not end");
    }
    (ids, pages)
}

#[tokio::test]
async fn cursor_pagination_visits_every_row_once() {
    let app = TestApp::spawn().await;
    let staff = app.sign_in(&app.email_of(ORG_A, "staff").await).await;
    let org_a = org_id(&app, ORG_A).await;
    for (list, table) in [
        ("/api/v1/users", "users"),
        ("/api/v1/providers", "providers"),
    ] {
        // The demo creates a practice's rows in one transaction: they share created_at, so
        // the walk also proves that ties are broken by id.
        let expected: Vec<Uuid> = sqlx::query_scalar(&format!(
            "select id from {table} where org_id = $1 order by created_at, id"
        ))
        .bind(org_a)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
        assert!(expected.len() >= 4, "{table}: {}", expected.len());
        let (ids, pages) = walk(&app, list, &staff, 2).await;
        assert_eq!(ids, expected, "{list}: every row once, in order");
        assert_eq!(pages, expected.len().div_ceil(2));
        let (all, one_page) = walk(&app, list, &staff, 200).await;
        assert_eq!((all, one_page), (expected, 1));
    }

    for (query, field) in [
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=bm90OmEtY3Vyc29y", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
    ] {
        let answer = app.get(&format!("/api/v1/users?{query}"), &staff).await;
        assert_problem(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
        );
    }
    app.close().await;
}

#[tokio::test]
async fn providers_are_created_read_listed_and_changed() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    let staff = app.sign_in(&app.email_of(ORG_A, "staff").await).await;
    let clinician = app.sign_in(&app.email_of(ORG_A, "provider").await).await;
    let user = new_user(&app, &admin, "new.clinician@conventions.example").await;
    let body = new_provider(user, "123456780");

    // Only admins add clinicians.
    let refused = post(&app, "/api/v1/providers", &staff, body.clone(), None).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden", None);

    let created = post(&app, "/api/v1/providers", &admin, body.clone(), Some("p-1")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let provider = id(&created);
    let path = format!("/api/v1/providers/{provider}");
    assert_eq!(created.headers[header::LOCATION], path.as_str());
    for (field, value) in body.as_object().unwrap() {
        assert_eq!(&created.body[field], value, "{field}");
    }
    assert_eq!(created.body["is_active"], true);
    let replayed = post(&app, "/api/v1/providers", &admin, body.clone(), Some("p-1")).await;
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(replayed.body, created.body);

    // Everyone in the practice reads it, with the version the creation answered.
    let read = app.get(&path, &staff).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, created.body);
    assert_eq!(etag(&read), etag(&created));
    let (listed, _) = walk(&app, "/api/v1/providers", &clinician, 50).await;
    assert!(listed.contains(&provider));

    // One provider record per user, one NPI per practice.
    let again = post(
        &app,
        "/api/v1/providers",
        &admin,
        new_provider(user, "123456781"),
        None,
    )
    .await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict", Some("user_id"));
    let other_user = new_user(&app, &admin, "other.clinician@conventions.example").await;
    let same_npi = post(
        &app,
        "/api/v1/providers",
        &admin,
        new_provider(other_user, "123456780"),
        None,
    )
    .await;
    assert_problem(&same_npi, StatusCode::CONFLICT, "conflict", Some("npi"));

    // The database's rules about supervision, answered with the field they are about.
    let supervisor: Uuid = sqlx::query_scalar(
        "select p.id from providers p join users u on u.id = p.user_id
          where u.email = $1",
    )
    .bind(app.email_of(ORG_A, "provider").await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let mut version = etag(&read);
    let unsupervised = patch(
        &app,
        &path,
        &admin,
        json!({"requires_supervision": true}),
        Some(&version),
    )
    .await;
    assert_problem(
        &unsupervised,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("supervisor_id"),
    );
    let themself = patch(
        &app,
        &path,
        &admin,
        json!({"requires_supervision": true, "supervisor_id": provider}),
        Some(&version),
    )
    .await;
    assert_problem(
        &themself,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("supervisor_id"),
    );
    let supervised = patch(
        &app,
        &path,
        &admin,
        json!({"requires_supervision": true, "supervisor_id": supervisor,
               "credentials": "LPC-A", "preferred_note_format": "SOAP", "license_number": null}),
        Some(&version),
    )
    .await;
    assert_eq!(supervised.status, StatusCode::OK, "{:?}", supervised.body);
    assert_eq!(supervised.body["supervisor_id"], supervisor.to_string());
    assert_eq!(supervised.body["credentials"], "LPC-A");
    assert_eq!(supervised.body["preferred_note_format"], "SOAP");
    assert_eq!(
        supervised.body["license_number"],
        Value::Null,
        "null clears"
    );
    assert_eq!(supervised.body["license_state"], "TX", "absent keeps");
    assert_eq!(supervised.body["first_name"], "Avery");
    version = etag(&supervised);

    // The old version is stale now.
    let stale = patch(
        &app,
        &path,
        &admin,
        json!({"credentials": "LPC"}),
        Some(&etag(&read)),
    )
    .await;
    assert_problem(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        None,
    );

    // Licensed: supervision ends, the supervisor is cleared with null.
    let licensed = patch(
        &app,
        &path,
        &admin,
        json!({"requires_supervision": false, "supervisor_id": null, "credentials": "LPC"}),
        Some(&version),
    )
    .await;
    assert_eq!(licensed.status, StatusCode::OK, "{:?}", licensed.body);
    assert_eq!(licensed.body["supervisor_id"], Value::Null);
    version = etag(&licensed);

    let bad_values = patch(
        &app,
        &path,
        &admin,
        json!({"license_state": "Texas"}),
        Some(&version),
    )
    .await;
    assert_problem(
        &bad_values,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("license_state"),
    );
    let bad_npi = patch(
        &app,
        &path,
        &admin,
        json!({"npi": "1234567890"}),
        Some(&version),
    )
    .await;
    assert_problem(
        &bad_npi,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("npi"),
    );

    // Only admins change clinicians; a clinician may not change even their own record.
    for token in [&staff, &clinician] {
        let refused = patch(
            &app,
            &path,
            token,
            json!({"credentials": "MD"}),
            Some(&version),
        )
        .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden", None);
    }
    let own = format!("/api/v1/providers/{supervisor}");
    let own_version = etag(&app.get(&own, &clinician).await);
    let refused = patch(
        &app,
        &own,
        &clinician,
        json!({"credentials": "MD"}),
        Some(&own_version),
    )
    .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden", None);

    // Deactivated, not deleted: still read and listed.
    let deactivated = patch(
        &app,
        &path,
        &admin,
        json!({"is_active": false}),
        Some(&version),
    )
    .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{:?}", deactivated.body);
    assert_eq!(deactivated.body["is_active"], false);
    assert_eq!(app.get(&path, &staff).await.body["is_active"], false);

    // An unknown note format is refused before it reaches the database.
    let mut unknown_format = new_provider(other_user, "123456782");
    unknown_format["preferred_note_format"] = json!("SOAPY");
    let unknown = post(&app, "/api/v1/providers", &admin, unknown_format, None).await;
    assert!(unknown.status.is_client_error(), "{:?}", unknown.status);
    app.close().await;
}

#[tokio::test]
async fn bad_input_and_unknown_paths_are_answered_in_kind() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.email_of(0, "admin").await).await;
    // A body that is not the JSON the endpoint expects: problem+json, 422.
    let wrong_type = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(serde_json::json!({"email": 7})),
            &[],
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        wrong_type.headers["content-type"],
        "application/problem+json"
    );
    assert_eq!(wrong_type.body["type"], "/problems/invalid");
    // A path id that is no UUID names no record.
    let not_an_id = app.get("/api/v1/users/not-a-uuid", &admin).await;
    assert_eq!(
        (not_an_id.status, not_an_id.body["type"].as_str()),
        (StatusCode::NOT_FOUND, Some("/problems/not-found"))
    );
    // A query that does not parse.
    let bad_limit = app.get("/api/v1/users?limit=many", &admin).await;
    assert_eq!(bad_limit.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Unknown paths: problem+json under /api, an HTML page elsewhere.
    let api = app.get("/api/v1/no-such-thing", &admin).await;
    assert_eq!(
        (api.status, api.body["type"].as_str()),
        (StatusCode::NOT_FOUND, Some("/problems/not-found"))
    );
    let page = app
        .call(Method::GET, "/no-such-page", None, None, &[])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    app.close().await;
}
