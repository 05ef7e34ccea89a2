//! Signing in, tokens and sessions over HTTP, against the real database.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::{Method, StatusCode};
use common::{JWT_SECRET, PASSWORD, TestApp};
use indra_server::platform::tokens::{TokenKeys, unix_now};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

async fn token_pair(app: &TestApp, email: &str) -> (String, String) {
    let answer = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["token_type"], "bearer");
    assert_eq!(answer.body["expires_in"], 900);
    (
        answer.body["access_token"].as_str().unwrap().to_owned(),
        answer.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn good_credentials_sign_in_and_bad_ones_get_one_answer() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "provider").await;
    let token = app.sign_in(&email).await;
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["email"], email.as_str());
    assert_eq!(me.body["user"]["role"], "provider");
    assert!(me.body["provider"]["npi"].is_string());

    // E-mail is compared without case.
    app.sign_in(&email.to_uppercase()).await;

    let wrong_password = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"email": email, "password": "not it"})),
            &[],
        )
        .await;
    let unknown_account = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"email": "nobody@nowhere.example", "password": "x"})),
            &[],
        )
        .await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.body, unknown_account.body,
        "the answers do not tell which accounts exist"
    );
    assert_eq!(
        wrong_password.headers["content-type"],
        "application/problem+json"
    );
    assert_eq!(wrong_password.body["type"], "/problems/unauthorized");
    app.close().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "billing").await;
    for _ in 0..indra_server::platform::sign_in::MAX_FAILURES_PER_ACCOUNT {
        let answer = app
            .call(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(json!({"email": email, "password": "guess"})),
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let locked = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers.contains_key("retry-after"));
    // Another account is not affected.
    app.sign_in(&app.email_of(0, "staff").await).await;
    app.close().await;
}

#[tokio::test]
async fn expired_forged_and_missing_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "admin").await;
    let auth_id: Uuid = sqlx::query_scalar("select auth_id from users where email = $1")
        .bind(&email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let org: Uuid = sqlx::query_scalar("select org_id from users where email = $1")
        .bind(&email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let keys = TokenKeys::new(JWT_SECRET, Duration::from_secs(60));
    let expired = keys
        .issue(auth_id, org, "admin", unix_now() - 7200)
        .unwrap();
    let forged = TokenKeys::new(
        b"someone-elses-secret-of-32-bytes-or-more",
        Duration::from_secs(600),
    )
    .issue(auth_id, org, "admin", unix_now())
    .unwrap();
    let valid = keys.issue(auth_id, org, "admin", unix_now()).unwrap();
    assert_eq!(
        app.get("/api/v1/me", &valid).await.status,
        StatusCode::OK,
        "the same claims, properly signed"
    );
    for token in [expired.as_str(), forged.as_str(), "not.a.token"] {
        assert_eq!(
            app.get("/api/v1/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let anonymous = app.call(Method::GET, "/api/v1/me", None, None, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    app.close().await;
}

#[tokio::test]
async fn a_supabase_token_is_mapped_to_its_user_by_auth_id() {
    let app = TestApp::spawn().await;
    let email = app.email_of(1, "staff").await;
    let auth_id: Uuid = sqlx::query_scalar("select auth_id from users where email = $1")
        .bind(&email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    // What Supabase Auth signs: no org_id, no user_role, extra claims of its own.
    let claims = json!({
        "sub": auth_id, "aud": "authenticated", "role": "authenticated", "email": email,
        "exp": unix_now() + 600, "iat": unix_now(), "iss": "https://project.supabase.co/auth/v1",
        "app_metadata": {"provider": "email"}, "session_id": Uuid::new_v4(),
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap();
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.body["user"]["role"], "staff");
    app.close().await;
}

#[tokio::test]
async fn a_deactivated_users_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "billing").await;
    let token = app.sign_in(&email).await;
    assert_eq!(app.get("/api/v1/me", &token).await.status, StatusCode::OK);

    let admin = app.sign_in(&app.email_of(0, "admin").await).await;
    let id: Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(&email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let current = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    let etag = current.headers["etag"].to_str().unwrap().to_owned();
    let deactivated = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({"is_active": false})),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{:?}", deactivated.body);
    assert_eq!(
        app.get("/api/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    app.close().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_revokes_the_family() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "staff").await;
    let (_, first) = token_pair(&app, &email).await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": token})),
                &[],
            )
            .await
        }
    };
    let rotated = refresh(first.clone()).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = rotated.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", access).await.status, StatusCode::OK);

    // The spent token comes back: someone copied it. The whole family is revoked.
    assert_eq!(refresh(first).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(second).await.status, StatusCode::UNAUTHORIZED);

    // Signing out revokes a fresh family too.
    let (_, third) = token_pair(&app, &email).await;
    let out = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": third})),
            &[],
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(third).await.status, StatusCode::UNAUTHORIZED);
    let stored: i64 = sqlx::query_scalar("select count(*) from indra_auth.refresh_tokens where token_hash = sha256(convert_to($1, 'UTF8'))")
        .bind("anything")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    app.close().await;
}

#[tokio::test]
async fn another_organizations_user_is_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in(&app.email_of(0, "admin").await).await;
    let other: Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(app.email_of(1, "admin").await)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let answer = app.get(&format!("/api/v1/users/{other}"), &admin).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["type"], "/problems/not-found");
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{other}"),
            Some(&admin),
            Some(json!({"role": "staff"})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(
        patch.status,
        StatusCode::NOT_FOUND,
        "never 403: that would say the record exists"
    );
    app.close().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let health = app.call(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.call(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
    app.call(Method::GET, "/api/v1/me", None, None, &[]).await;
    let metrics = app.call(Method::GET, "/metrics", None, None, &[]).await;
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(
            "indra_http_requests_total{route=\"/api/v1/me\",method=\"GET\",status=\"401\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("indra_db_pool_connections"));
    assert!(metrics.headers.contains_key("content-type"));
    app.close().await;
}
