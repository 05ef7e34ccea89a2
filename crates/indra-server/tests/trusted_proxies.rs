//! The sign-in throttle behind a load balancer (`INDRA_TRUSTED_PROXIES`): failures are counted
//! against the client the trusted proxy forwards, and a client that is not a trusted proxy
//! cannot choose the address it is counted under.
//!
//! Requests are driven in-process with the TCP peer set as `axum::serve` sets it
//! (`ConnectInfo`), so the peer is whoever the test says.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use common::web::encoded;
use common::{JWT_SECRET, PASSWORD, TestApp};
use indra_server::config::Config;
use indra_server::platform::client_address::TrustedProxies;
use indra_server::platform::sign_in::MAX_FAILURES_PER_ADDRESS;
use indra_server::state::AppState;
use serde_json::json;

/// The load balancers of the deployment under test.
const PROXIES: &str = "10.0.0.5, fd00:1::/64";
const BALANCER: &str = "10.0.0.5:40110";

/// The test app (its own database, two demo practices) with `trusted_proxies` configured.
async fn spawn_trusting(trusted_proxies: &str) -> TestApp {
    let mut app = TestApp::spawn().await;
    trust(&mut app, trusted_proxies).await;
    app
}

/// Serves `app`'s database from now on as a server configured with `trusted_proxies` would.
async fn trust(app: &mut TestApp, trusted_proxies: &str) {
    let mut config = Config::for_tests(app.db.url().to_owned(), JWT_SECRET);
    config.trusted_proxies = TrustedProxies::parse(trusted_proxies).unwrap();
    let options: sqlx::postgres::PgConnectOptions = app.db.url().parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.username("indra_app"))
        .await
        .unwrap();
    app.state = AppState::with_pool(config, pool).unwrap();
    app.router = indra_server::app(app.state.clone());
}

/// `POST /api/v1/auth/token` from `peer`, with these `X-Forwarded-For` lines.
fn sign_in_request(
    peer: &str,
    forwarded_for: &[&str],
    email: &str,
    password: &str,
) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/json");
    for value in forwarded_for {
        request = request.header("x-forwarded-for", *value);
    }
    let mut request = request
        .body(Body::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    request
}

/// `POST /login` (the web sign-in form) from `peer`, with these `X-Forwarded-For` lines.
fn form_request(peer: &str, forwarded_for: &[&str], email: &str, password: &str) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for value in forwarded_for {
        request = request.header("x-forwarded-for", *value);
    }
    let mut request = request
        .body(Body::from(format!(
            "email={}&password={}",
            encoded(email),
            encoded(password)
        )))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    request
}

/// The failures counted against each address, as `address:<ip>` keys.
async fn address_failures(app: &TestApp) -> Vec<(String, i32)> {
    sqlx::query_as(
        "select key, failures from indra_auth.sign_in_failures
          where key like 'address:%' order by key",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// `MAX_FAILURES_PER_ADDRESS` wrong passwords, each for another (unknown) account so that only
/// the address limit is reached.
async fn fail_until_locked(app: &TestApp, peer: &str, forwarded_for: &[&str]) {
    for i in 0..MAX_FAILURES_PER_ADDRESS {
        let answer = app
            .send(sign_in_request(
                peer,
                forwarded_for,
                &format!("nobody-{i}@clinic.invalid"),
                "a guess",
            ))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_apart() {
    let app = spawn_trusting(PROXIES).await;
    let email = app.email_of(0, "provider").await;
    let other_email = app.email_of(1, "provider").await;

    // Client A, through the balancer, fails as often as an address may.
    fail_until_locked(&app, BALANCER, &["198.51.100.7"]).await;
    assert_eq!(
        address_failures(&app).await,
        [("address:198.51.100.7".to_owned(), MAX_FAILURES_PER_ADDRESS)],
        "counted against the forwarded client, not the balancer"
    );

    // A is refused even with the right password, on the API and on the form...
    let locked = app
        .send(sign_in_request(
            BALANCER,
            &["198.51.100.7"],
            &email,
            PASSWORD,
        ))
        .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert!(locked.headers.contains_key(header::RETRY_AFTER));
    let form = app
        .send(form_request(BALANCER, &["198.51.100.7"], &email, PASSWORD))
        .await;
    assert_eq!(form.status, StatusCode::TOO_MANY_REQUESTS);
    // ...and cannot get out by sending its own X-Forwarded-For: the balancer appends the
    // address it saw (a line of its own with HAProxy's `option forwardfor`), and that counts.
    let forged = app
        .send(sign_in_request(
            BALANCER,
            &["198.51.100.8", "198.51.100.7"],
            &email,
            PASSWORD,
        ))
        .await;
    assert_eq!(forged.status, StatusCode::TOO_MANY_REQUESTS);
    let forged_same_line = app
        .send(sign_in_request(
            BALANCER,
            &["198.51.100.8, 10.0.0.5, 198.51.100.7"],
            &email,
            PASSWORD,
        ))
        .await;
    assert_eq!(forged_same_line.status, StatusCode::TOO_MANY_REQUESTS);

    // Client B, through the same balancer, is not locked: API and form both sign in.
    let other = app
        .send(sign_in_request(
            BALANCER,
            &["198.51.100.8"],
            &email,
            PASSWORD,
        ))
        .await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
    let other_form = app
        .send(form_request(
            BALANCER,
            &["198.51.100.8"],
            &other_email,
            PASSWORD,
        ))
        .await;
    assert_eq!(other_form.status, StatusCode::SEE_OTHER);

    // An IPv6 client through an IPv6 balancer (a trusted /64), past a second trusted hop.
    let answer = app
        .send(sign_in_request(
            "[fd00:1::2]:40111",
            &["2001:db8::7, fd00:1::9"],
            "nobody@clinic.invalid",
            "a guess",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // A form failure from a third client, counted under its own address too.
    let answer = app
        .send(form_request(
            BALANCER,
            &["203.0.113.50"],
            "nobody@clinic.invalid",
            "a guess",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        address_failures(&app).await,
        [
            ("address:198.51.100.7".to_owned(), MAX_FAILURES_PER_ADDRESS),
            ("address:2001:db8::7".to_owned(), 1),
            ("address:203.0.113.50".to_owned(), 1),
        ]
    );
    app.close().await;
}

#[tokio::test]
async fn from_an_untrusted_peer_a_forged_forwarded_for_changes_nothing() {
    let mut app = spawn_trusting(PROXIES).await;
    let email = app.email_of(0, "staff").await;
    // Straight to the server, not through the balancer, claiming to be forwarded for another
    // address each time: all counted against the peer, which ends up locked.
    let peer = "192.0.2.44:51000";
    for i in 0..MAX_FAILURES_PER_ADDRESS {
        let claimed = format!("198.51.100.{}", i + 1);
        let answer = app
            .send(sign_in_request(
                peer,
                &[claimed.as_str()],
                &format!("nobody-{i}@clinic.invalid"),
                "a guess",
            ))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    // The form too, claiming the balancer's own address.
    let answer = app
        .send(form_request(
            peer,
            &["10.0.0.5"],
            "nobody@clinic.invalid",
            "x",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        address_failures(&app).await,
        [("address:192.0.2.44".to_owned(), MAX_FAILURES_PER_ADDRESS)],
        "no forged address was counted"
    );
    let locked = app
        .send(sign_in_request(peer, &["198.51.100.99"], &email, PASSWORD))
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);

    // Trusting nobody (the default), even the balancer's header is not read: the balancer is
    // the client, as before the setting existed.
    trust(&mut app, "").await;
    let answer = app
        .send(sign_in_request(
            BALANCER,
            &["198.51.100.200"],
            "nobody@clinic.invalid",
            "x",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        address_failures(&app).await,
        [
            ("address:10.0.0.5".to_owned(), 1),
            ("address:192.0.2.44".to_owned(), MAX_FAILURES_PER_ADDRESS),
        ]
    );
    app.close().await;
}
