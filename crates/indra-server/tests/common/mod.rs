//! The application driven in-process against a real database of its own (two demo practices).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support"
)]

pub mod web;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use indra_db::testing::{DEMO_TEST_PASSWORD, TestDb};
use indra_server::config::Config;
use indra_server::state::AppState;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

pub const JWT_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const PASSWORD: &str = DEMO_TEST_PASSWORD;

pub struct TestApp {
    pub db: TestDb,
    pub router: Router,
    pub state: AppState,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let db = TestDb::with_demo(2).await.unwrap();
        let config = Config::for_tests(db.url().to_owned(), JWT_SECRET);
        // As in production: the server logs in as `indra_app`, which owns nothing and may only
        // switch to the API roles. (`db.pool` stays the owner, for setting up and checking.)
        let options: sqlx::postgres::PgConnectOptions = db.url().parse().unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.username("indra_app"))
            .await
            .unwrap();
        let state = AppState::with_pool(config, pool).unwrap();
        let router = indra_server::app(state.clone());
        Self { db, router, state }
    }

    pub async fn close(self) {
        self.db.close().await.unwrap();
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A JSON request with an optional bearer token and extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        self.send(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    /// Signs in and returns the access token.
    pub async fn sign_in(&self, email: &str) -> String {
        let answer = self
            .call(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(serde_json::json!({"email": email, "password": PASSWORD})),
                &[],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{email}: {:?}", answer.body);
        answer.body["access_token"].as_str().unwrap().to_owned()
    }

    /// The e-mail address of a demo user of organization `org_index` (0 or 1) with `role`.
    pub async fn email_of(&self, org_index: usize, role: &str) -> String {
        let orgs: Vec<Uuid> = sqlx::query_scalar("select id from organizations order by name")
            .fetch_all(&self.db.pool)
            .await
            .unwrap();
        sqlx::query_scalar("select email::text from users where org_id = $1 and role = $2::user_role order by email limit 1")
            .bind(orgs[org_index])
            .bind(role)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }
}
