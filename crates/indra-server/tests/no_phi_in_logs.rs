//! No protected health information in the logs: every log line the server and its libraries
//! write (at TRACE, for every target, sqlx's statements included) is captured while a full set of
//! requests runs, and scanned for every demo patient's names, date of birth, record number and
//! contact details, and for the search strings sent in query strings.
//!
//! The capture is the thread's default subscriber, and `#[tokio::test]` runs the app, the pool
//! and sqlx's connections on that one thread (only the password hashing leaves it, for
//! `spawn_blocking`, and it logs nothing), so tests of this file running in parallel under
//! `cargo test` never see each other's lines.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::TestApp;
use indra_server::platform::sessions;
use serde_json::json;
use time::Date;
use tracing::Level;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use uuid::Uuid;

/// Every log line written while it is installed, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Installs a subscriber logging everything (every level, every target, spans opening and
    /// closing with their fields) into the capture, for as long as the guard lives.
    fn install() -> (Self, DefaultGuard) {
        let capture = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_max_level(Level::TRACE)
            .with_span_events(FmtSpan::FULL)
            .with_target(true)
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// One thing found in the logs: what, and the line it is on.
#[derive(Debug, PartialEq, Eq)]
struct Hit {
    needle: String,
    line: String,
}

/// Every needle that occurs in the logs as a whole word (letters and digits around it do not
/// count: `Vera` is not found in `several`), without regard to case.
fn scan(logs: &str, needles: &[String]) -> Vec<Hit> {
    let needles: Vec<(String, String)> = needles
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| (n.clone(), n.to_lowercase()))
        .collect();
    let mut hits = Vec::new();
    for line in logs.lines() {
        let lower = line.to_lowercase();
        for (needle, lowered) in &needles {
            let whole_word = lower.match_indices(lowered.as_str()).any(|(at, _)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + lowered.len()..].chars().next();
                !before.is_some_and(char::is_alphanumeric)
                    && !after.is_some_and(char::is_alphanumeric)
            });
            if whole_word {
                hits.push(Hit {
                    needle: needle.clone(),
                    line: line.to_owned(),
                });
            }
        }
    }
    hits
}

/// What identifies the demo patients: names, birth dates (as ISO and as US dates), record
/// numbers, e-mail addresses and phone numbers, of every organization.
async fn patient_identifiers(app: &TestApp) -> Vec<String> {
    type Row = (
        String,
        String,
        Option<String>,
        Date,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select first_name, last_name, preferred_name, date_of_birth, mrn, email::text, phone from patients",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(rows.len() >= 20, "the demo has patients: {}", rows.len());
    let mut needles = Vec::new();
    for (first, last, preferred, born, mrn, email, phone) in rows {
        needles.extend([first, last, born.to_string(), mrn]);
        needles.push(format!(
            "{:02}/{:02}/{}",
            u8::from(born.month()),
            born.day(),
            born.year()
        ));
        needles.extend(preferred.into_iter().chain(email).chain(phone));
    }
    needles.sort();
    needles.dedup();
    needles
}

/// A patient of the first organization: (first name, last name, date of birth).
async fn a_patient(app: &TestApp) -> (String, String, Date) {
    sqlx::query_as(
        "select p.first_name, p.last_name, p.date_of_birth from patients p
           join organizations o on o.id = p.org_id order by o.name, p.last_name limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// What every test here starts from: the capture installed before anything runs, the app
/// with its two demo practices, what identifies their patients, and one patient to use.
struct Scene {
    capture: Capture,
    _guard: DefaultGuard,
    app: TestApp,
    needles: Vec<String>,
    first: String,
    last: String,
    born: Date,
    admin: String,
}

impl Scene {
    async fn start() -> Self {
        let (capture, guard) = Capture::install();
        let app = TestApp::spawn().await;
        let needles = patient_identifiers(&app).await;
        let (first, last, born) = a_patient(&app).await;
        let admin = app.sign_in(&app.email_of(0, "admin").await).await;
        Self {
            capture,
            _guard: guard,
            app,
            needles,
            first,
            last,
            born,
            admin,
        }
    }

    /// Closes the app, checks that the capture saw the requests and sqlx's statements (an empty
    /// log would prove nothing), and returns every identifier found, with `more` needles.
    async fn finish(self, more: &[String]) -> Vec<Hit> {
        self.app.close().await;
        let logs = self.capture.text();
        assert!(logs.contains("request finished"), "{logs}");
        assert!(logs.contains("sqlx::query"), "{logs}");
        let mut needles = self.needles;
        needles.extend_from_slice(more);
        scan(&logs, &needles)
    }
}

/// The hits, one per line, for a failure message.
fn listed(hits: &[Hit]) -> String {
    hits.iter()
        .map(|h| format!("  {:?} in: {}", h.needle, h.line))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn requests_leave_no_patient_identifiers_in_the_logs() {
    let scene = Scene::start().await;
    let (app, admin) = (&scene.app, scene.admin.as_str());
    let (first, last, born) = (scene.first.clone(), scene.last.clone(), scene.born);
    let full_name = format!("{first} {last}");
    let patient_email = format!("{}.{}@example.com", first, last).to_lowercase();
    let admin_email = app.email_of(0, "admin").await;
    let provider_email = app.email_of(0, "provider").await;

    // Signing in: right, wrong (a patient's address and details as the credentials), locked.
    let provider = app.sign_in(&provider_email).await;
    for _ in 0..6 {
        let refused = app
            .call(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(json!({"email": patient_email, "password": format!("{last}{born}")})),
                &[],
            )
            .await;
        assert!(refused.status.is_client_error());
    }
    let refresh = app
        .call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": last})),
            &[],
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me", admin).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", &provider).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/me", &last).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Users: listing, creating one who has a patient's name, a retry, a conflict, refusals.
    assert_eq!(app.get("/api/v1/users", admin).await.status, StatusCode::OK);
    let new_user = json!({"email": patient_email, "full_name": full_name, "role": "provider",
                          "password": format!("{last}-{born}-pw")});
    let created = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(admin),
            Some(new_user.clone()),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let user_id = created.body["id"].as_str().unwrap().to_owned();
    let replayed = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(admin),
            Some(new_user.clone()),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    let changed_body = json!({"email": patient_email, "full_name": first, "role": "staff"});
    for (body, key, expected) in [
        (
            changed_body.clone(),
            "k-1",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (changed_body, "k-2", StatusCode::CONFLICT),
        (
            json!({"email": last, "full_name": full_name, "role": "staff"}),
            "k-3",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let answer = app
            .call(
                Method::POST,
                "/api/v1/users",
                Some(admin),
                Some(body),
                &[("idempotency-key", key)],
            )
            .await;
        assert_eq!(answer.status, expected, "{:?}", answer.body);
    }
    let forbidden = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&provider),
            Some(json!({"email": "x@y.example", "full_name": full_name, "role": "staff"})),
            &[],
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    // Changing a user: without a version, with a stale one, with the current one.
    let path = format!("/api/v1/users/{user_id}");
    let etag = created.headers["etag"].to_str().unwrap().to_owned();
    let rename = json!({"full_name": format!("{last} {first}")});
    for (if_match, expected) in [
        (None, StatusCode::PRECONDITION_REQUIRED),
        (Some("\"stale\""), StatusCode::PRECONDITION_FAILED),
        (Some(etag.as_str()), StatusCode::OK),
    ] {
        let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        let answer = app
            .call(
                Method::PATCH,
                &path,
                Some(admin),
                Some(rename.clone()),
                &headers,
            )
            .await;
        assert_eq!(answer.status, expected, "{:?}", answer.body);
    }

    // Providers: a clinician with the patient's name, an invalid NPI, a refusal.
    let provider_body = json!({"user_id": user_id, "first_name": first, "last_name": last,
        "credentials": "LCSW", "npi": "1234567890", "preferred_note_format": "DAP",
        "requires_supervision": false, "license_state": last});
    let invalid = app
        .call(
            Method::POST,
            "/api/v1/providers",
            Some(admin),
            Some(provider_body.clone()),
            &[],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut valid = provider_body;
    valid["npi"] = json!(indra_rules::platform::npi::npi_with_check_digit(
        "123456789"
    ));
    valid["license_state"] = json!("TX");
    let created_provider = app
        .call(
            Method::POST,
            "/api/v1/providers",
            Some(admin),
            Some(valid),
            &[("idempotency-key", &last)],
        )
        .await;
    assert_eq!(
        created_provider.status,
        StatusCode::CREATED,
        "{:?}",
        created_provider.body
    );
    let provider_path = format!(
        "/api/v1/providers/{}",
        created_provider.body["id"].as_str().unwrap()
    );
    assert_eq!(
        app.get(&provider_path, &provider).await.status,
        StatusCode::OK
    );
    let refused = app
        .call(
            Method::PATCH,
            &provider_path,
            Some(&provider),
            Some(json!({"last_name": first})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/providers", admin).await.status,
        StatusCode::OK
    );

    // Not found, malformed ids and cursors, unknown routes: all carrying the patient's name.
    let other_org_user: Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(app.email_of(1, "admin").await)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    for (path, expected) in [
        (
            format!("/api/v1/users/{other_org_user}"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/users/{}", Uuid::new_v4()),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/api/v1/users?cursor={last}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // The patient search and chart: names in the query and in the answers, never in the logs.
        (format!("/api/v1/patients?q={last}"), StatusCode::OK),
        (
            format!("/api/v1/patients?q={first}%20{last}"),
            StatusCode::OK,
        ),
        (format!("/api/v1/{last}/{first}"), StatusCode::NOT_FOUND),
    ] {
        let answer = app.get(&path, admin).await;
        assert_eq!(answer.status, expected, "{path}: {:?}", answer.body);
    }

    // The web application: the sign-in form (refused with a patient's details, then the
    // admin), and the patient search, signed in with a session cookie.
    let admin_auth_id: Uuid = sqlx::query_scalar("select auth_id from users where email = $1")
        .bind(&admin_email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let session = sessions::start(&app.state, admin_auth_id).await.unwrap();
    for form in [
        format!("email={patient_email}&password={last}"),
        format!("email={admin_email}&password={}", common::PASSWORD),
    ] {
        let answer = app
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/login")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form))
                    .unwrap(),
            )
            .await;
        assert!(!answer.status.is_server_error(), "{:?}", answer.status);
    }
    for path in [
        format!("/patients?q={last}"),
        format!("/patients?q={first}+{last}"),
        format!("/patients?q={born}"),
        "/patients".to_owned(),
        "/".to_owned(),
    ] {
        let answer = app
            .send(
                Request::builder()
                    .uri(&path)
                    .header(
                        header::COOKIE,
                        format!("{}={session}", sessions::SESSION_COOKIE),
                    )
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(
            !answer.status.is_server_error(),
            "{path}: {:?}",
            answer.status
        );
        // Where the search page answers, it found the patient: the name went through the
        // search and the database, and must still not be in the logs.
        if path == format!("/patients?q={last}") && answer.status == StatusCode::OK {
            let page = answer.body.as_str().unwrap_or_default();
            assert!(page.contains(&last), "{path}: {page}");
        }
    }
    let hits = scene
        .finish(&[
            full_name.clone(),
            patient_email,
            format!("q={last}"),
            format!("q={first}+{last}"),
            format!("q={born}"),
        ])
        .await;
    assert!(
        hits.is_empty(),
        "patient identifiers in the logs ({} lines):\n{}",
        hits.len(),
        listed(&hits)
    );
}

/// Requests the extractors refuse (a body that is not the JSON expected, a path id that is not
/// a UUID, a query parameter of the wrong type) with a patient's name where a value belongs.
/// axum logs every refusal it answers itself at TRACE (target `axum::rejection`), with the
/// message it answers, and serde's messages quote the value they could not take.
#[tokio::test]
async fn refused_requests_leave_no_patient_identifiers_in_the_logs() {
    let scene = Scene::start().await;
    let (app, admin) = (&scene.app, scene.admin.as_str());
    let (first, last) = (scene.first.clone(), scene.last.clone());
    let full_name = format!("{first} {last}");
    for body in [
        format!(r#"{{"email": "a@b.example", "full_name": "{full_name}", "role": "{last}"}}"#),
        format!(r#"{{"email": "a@b.example", "full_name": "{full_name}", "#),
        format!(r#"{{"email": ["{last}"], "full_name": "{full_name}", "role": "staff"}}"#),
        format!(
            r#"{{"email": "{last}@b.example", "full_name": {{"{first}": 1}}, "role": "staff"}}"#
        ),
    ] {
        let answer = app
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/api/v1/users")
                    .header(header::AUTHORIZATION, format!("Bearer {admin}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert!(answer.status.is_client_error(), "{:?}", answer.status);
    }
    for path in [
        format!("/api/v1/users/{last}"),
        format!("/api/v1/providers/{first}"),
        format!("/api/v1/providers?limit={last}"),
        format!("/api/v1/users?limit=1&limit={last}"),
    ] {
        let answer = app.get(&path, admin).await;
        assert!(
            answer.status.is_client_error(),
            "{path}: {:?}",
            answer.status
        );
    }
    let hits = scene.finish(&[full_name]).await;
    assert!(
        hits.is_empty(),
        "patient identifiers in the logs ({} lines):\n{}\n\
         axum logs the requests it refuses at TRACE, quoting the values sent: build it without \
         its `tracing` feature (workspace Cargo.toml), or turn extractor rejections into ApiError \
         before they become responses",
        hits.len(),
        listed(&hits)
    );
}

/// The scan can fail: a patient's name logged on purpose, through the same subscriber, by the
/// application's own logging and inside a statement sqlx logs, is found; a clean log is not.
#[tokio::test]
async fn the_scan_finds_a_name_logged_on_purpose() {
    let (capture, _guard) = Capture::install();
    let app = TestApp::spawn().await;
    let needles = patient_identifiers(&app).await;
    let (first, last, born) = a_patient(&app).await;

    let clean = capture.text();
    assert!(
        scan(&clean, &needles).is_empty(),
        "{:?}",
        scan(&clean, &needles)
    );

    tracing::info!(patient = %last, "a careless line");
    // A value written into the statement instead of bound: sqlx logs the statement text.
    let _: String = sqlx::query_scalar(&format!("select '{first}'"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    tracing::trace!(target: "somewhere::deep", "born {born}");
    app.close().await;

    let hits = scan(&capture.text(), &needles);
    let found: Vec<&str> = hits.iter().map(|h| h.needle.as_str()).collect();
    assert!(found.contains(&last.as_str()), "{hits:?}");
    assert!(found.contains(&first.as_str()), "{hits:?}");
    assert!(found.contains(&born.to_string().as_str()), "{hits:?}");
    assert!(
        hits.iter().any(|h| h.line.contains("sqlx::query")),
        "{hits:?}"
    );
}

#[test]
fn the_scan_matches_whole_words_without_regard_to_case() {
    let needles = vec![
        "Vera".to_owned(),
        "Thistlewood".to_owned(),
        "1982-04-04".to_owned(),
    ];
    assert!(scan("several averaged values", &needles).is_empty());
    assert_eq!(
        scan("INFO patient=THISTLEWOOD\nok\nborn 1982-04-04.", &needles),
        vec![
            Hit {
                needle: "Thistlewood".into(),
                line: "INFO patient=THISTLEWOOD".into()
            },
            Hit {
                needle: "1982-04-04".into(),
                line: "born 1982-04-04.".into()
            },
        ]
    );
}
