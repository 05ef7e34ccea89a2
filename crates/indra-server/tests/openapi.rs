//! The OpenAPI document: a 3.1 document that describes every API route the server answers, and
//! that changes only on purpose (it is compared with a committed snapshot that integrators read).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::TestApp;
use serde_json::Value;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// Every `/api/v1/...` path the server's source registers with `.route(...)`.
fn routes_in_source() -> BTreeSet<String> {
    fn walk(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices(".route(") {
                    let rest = text[at + ".route(".len()..].trim_start();
                    if let Some(literal) = rest.strip_prefix('"')
                        && let Some(end) = literal.find('"')
                        && literal[..end].starts_with("/api/")
                    {
                        found.insert(literal[..end].to_owned());
                    }
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    found
}

/// Whether the router has a handler for `method` on `path` (the probe is unauthenticated and
/// carries no body, so a handler answers 401, 415, 422... before it could look anything up; the
/// router answers 405 for a method it does not route, and 404 for a path it does not know).
async fn routed(app: &TestApp, method: Method, path: &str) -> bool {
    let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
    let answer = app
        .send(
            Request::builder()
                .method(method)
                .uri(concrete)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    !matches!(
        answer.status,
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_FOUND
    )
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_route() {
    let app = TestApp::spawn().await;
    let answer = app
        .call(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc = answer.body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();

    // Every path of the document is served, with every method it documents.
    for (path, operations) in paths {
        for method in METHODS {
            let documented = operations.get(method.as_str().to_lowercase()).is_some();
            if documented {
                assert!(
                    routed(&app, method.clone(), path).await,
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }

    // Every API route the server registers is documented, with every method it answers
    // (except the document itself).
    let registered = routes_in_source();
    assert!(registered.contains("/api/v1/users/{id}"), "{registered:?}");
    for path in registered
        .iter()
        .filter(|p| p.as_str() != "/api/v1/openapi.json")
    {
        let operations = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is routed but missing from the OpenAPI document"));
        let mut answered = 0;
        for method in METHODS {
            if routed(&app, method.clone(), path).await {
                answered += 1;
                assert!(
                    operations.get(method.as_str().to_lowercase()).is_some(),
                    "{method} {path} is routed but missing from the OpenAPI document"
                );
            }
        }
        assert!(answered > 0, "{path} is in the source but not routed");
    }

    // Every operation says what it answers, and errors are problem documents.
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.close().await;
}

/// The document as committed: a change to the API shows up in review as a change to
/// `tests/snapshots/openapi.json`. `UPDATE_SNAPSHOTS=1` rewrites the file.
#[tokio::test]
async fn the_document_matches_its_snapshot() {
    let app = TestApp::spawn().await;
    let answer = app
        .call(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let actual = format!("{}\n", serde_json::to_string_pretty(&answer.body).unwrap());
    app.close().await;

    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(Path::new(SNAPSHOT).parent().unwrap()).unwrap();
        std::fs::write(SNAPSHOT, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    if expected != actual {
        let expected_json: Value = serde_json::from_str(&expected).unwrap_or(Value::Null);
        let first_difference = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .find(|(_, (e, a))| e != a)
            .map(|(n, (e, a))| format!("line {}:\n  snapshot: {e}\n  now:      {a}", n + 1))
            .unwrap_or_else(|| "one is a prefix of the other".to_owned());
        panic!(
            "the OpenAPI document differs from {SNAPSHOT} ({}); first difference at {first_difference}\n\
             If the change is intended, update the snapshot and commit it:\n  \
             UPDATE_SNAPSHOTS=1 cargo nextest run -p indra-server --test openapi",
            if expected_json.is_null() {
                "the snapshot is missing or not JSON"
            } else {
                "the API changed"
            }
        );
    }
}

/// Every `{name}` of a path template is declared as a path parameter of each of its operations,
/// and nothing else is: a client generated from the document builds the right URLs (list
/// parameters such as `limit` and `cursor` belong in the query).
#[test]
fn path_parameters_match_their_templates() {
    let doc = serde_json::to_value(indra_server::api::openapi::document()).unwrap();
    let mut wrong = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in operations.as_object().unwrap() {
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            if declared != templated {
                wrong.push(format!(
                    "{method} {path}: path parameters {declared:?}, template {templated:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
