//! The web application over HTTP, in-process against the real database: signing in and out,
//! sessions and CSRF, the pages' answers to each role, and the admin forms.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::web::{encoded, html, location};
use common::{Answer, PASSWORD, TestApp};
use uuid::Uuid;

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().method(Method::GET).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

/// A form post, as a browser sends it.
fn post(path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(name, value)| format!("{name}={}", encoded(value)))
        .collect::<Vec<_>>()
        .join("&");
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(body)).unwrap()
}

/// Signs in through the form; returns the `Cookie` header value of the session.
async fn web_sign_in(app: &TestApp, email: &str, password: &str) -> String {
    let answer = app
        .send(post(
            "/login",
            None,
            &[("email", email), ("password", password)],
        ))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "{email}: {}",
        html(&answer)
    );
    let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The CSRF token the page's forms carry.
fn csrf_token(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> Answer {
    app.send(get(path, Some(cookie))).await
}

#[tokio::test]
async fn the_sign_in_page_has_its_form() {
    let app = TestApp::spawn().await;
    let answer = app.send(get("/login", None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = html(&answer);
    for part in [
        r#"<form id="sign-in" method="post" action="/login">"#,
        r#"id="email" name="email" type="email""#,
        r#"id="password" name="password" type="password""#,
        r#"<label for="email">"#,
        r#"<label for="password">"#,
        r#"<button type="submit">Sign in</button>"#,
    ] {
        assert!(page.contains(part), "no {part} in {page}");
    }
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
    assert!(answer.headers.contains_key(header::CONTENT_SECURITY_POLICY));

    let css = app.send(get("/assets/indra.css", None)).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(
        css.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert!(html(&css).contains(":focus-visible"));
    app.close().await;
}

#[tokio::test]
async fn a_good_sign_in_sets_a_session_cookie_and_opens_the_shell() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "admin").await;
    let answer = app
        .send(post(
            "/login",
            None,
            &[("email", &email.to_uppercase()), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/");
    let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.starts_with("indra_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap();

    let today = page(&app, "/", cookie).await;
    assert_eq!(today.status, StatusCode::OK);
    let full_name: String = sqlx::query_scalar("select full_name from users where email = $1")
        .bind(&email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let shell = html(&today);
    assert!(
        shell.contains(&format!(
            r#"<span id="current-user">{full_name} (admin)</span>"#
        )),
        "{shell}"
    );
    assert!(shell.contains(r#"<nav aria-label="Main""#));
    assert!(shell.contains(r#"<a href="/" aria-current="page">Today</a>"#));
    assert!(shell.contains(r#"<a href="/admin/users">Admin</a>"#));
    assert!(shell.contains(r#"<form id="sign-out" method="post" action="/logout">"#));
    for path in ["/patients", "/schedule", "/billing", "/assistant"] {
        let answer = page(&app, path, cookie).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert!(
            html(&answer).contains(&format!(r#"<a href="{path}" aria-current="page">"#)),
            "{path} is not the current item of the navigation"
        );
    }
    app.close().await;
}

#[tokio::test]
async fn a_wrong_password_shows_the_alert_and_no_session() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "provider").await;
    let answer = app
        .send(post(
            "/login",
            None,
            &[("email", &email), ("password", "not the password")],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(!answer.headers.contains_key(header::SET_COOKIE));
    let page = html(&answer);
    assert!(
        page.contains(r#"<p role="alert" class="error">Email or password is wrong.</p>"#),
        "{page}"
    );
    assert!(page.contains(r#"<form id="sign-in""#));
    assert!(
        page.contains(&format!(r#"value="{email}""#)),
        "the address stays typed"
    );

    // An unknown address gets the same page.
    let unknown = app
        .send(post(
            "/login",
            None,
            &[("email", "nobody@nowhere.example"), ("password", "x")],
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(html(&unknown).contains("Email or password is wrong."));
    app.close().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_form_with_a_wait() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "billing").await;
    for _ in 0..indra_server::platform::sign_in::MAX_FAILURES_PER_ACCOUNT {
        let answer = app
            .send(post(
                "/login",
                None,
                &[("email", &email), ("password", "wrong")],
            ))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let locked = app
        .send(post(
            "/login",
            None,
            &[("email", &email), ("password", PASSWORD)],
        ))
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers.contains_key(header::RETRY_AFTER));
    assert!(
        html(&locked).contains(r#"<p role="alert" class="error">Too many failed sign-ins. Wait"#)
    );
    app.close().await;
}

#[tokio::test]
async fn pages_without_a_session_send_the_browser_to_sign_in() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/patients",
        "/schedule",
        "/admin/users",
        "/admin/providers",
        "/admin/audit",
    ] {
        let answer = app.send(get(path, None)).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&answer), "/login", "{path}");
        let forged = app
            .send(get(path, Some("indra_session=not-a-session")))
            .await;
        assert_eq!(forged.status, StatusCode::SEE_OTHER, "{path}");
    }
    let post_without = app
        .send(post("/admin/users", None, &[("full_name", "X")]))
        .await;
    assert_eq!(post_without.status, StatusCode::SEE_OTHER);
    app.close().await;
}

#[tokio::test]
async fn signing_out_needs_the_forms_token_and_ends_the_session() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "staff").await;
    let cookie = web_sign_in(&app, &email, PASSWORD).await;
    let today = page(&app, "/", &cookie).await;
    let token = csrf_token(html(&today));

    // Without the token (what a third-party page could make a browser send): refused.
    let refused = app.send(post("/logout", Some(&cookie), &[])).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(html(&refused).contains(r#"role="alert""#));
    let wrong = app
        .send(post("/logout", Some(&cookie), &[("csrf_token", "guess")]))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(page(&app, "/", &cookie).await.status, StatusCode::OK);

    let out = app
        .send(post("/logout", Some(&cookie), &[("csrf_token", &token)]))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie no longer opens anything.
    let after = page(&app, "/", &cookie).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
    app.close().await;
}

#[tokio::test]
async fn an_admin_adds_a_user_who_can_then_sign_in() {
    let app = TestApp::spawn().await;
    let admin = web_sign_in(&app, &app.email_of(0, "admin").await, PASSWORD).await;
    let users = page(&app, "/admin/users", &admin).await;
    assert_eq!(users.status, StatusCode::OK);
    let users_page = html(&users);
    assert!(users_page.contains(r#"<table id="users">"#));
    assert!(users_page.contains(r#"<form id="new-user" method="post" action="/admin/users""#));
    assert!(users_page.contains(r#"<a href="/admin/users" aria-current="page">Admin</a>"#));
    let token = csrf_token(users_page);

    let new_user = |email: &'static str, password: &'static str| {
        vec![
            ("csrf_token", token.clone()),
            ("full_name", "Robin Web-Test".to_owned()),
            ("email", email.to_owned()),
            ("role", "staff".to_owned()),
            ("password", password.to_owned()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        post("/admin/users", Some(&admin), &fields)
    };

    // Refused values re-render the page with an alert naming the field.
    let short = app
        .send(send(new_user("robin@riverbend.example", "short")))
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html(&short).contains(r#"<p role="alert" class="error" id="form-error">Password: "#),
        "{}",
        html(&short)
    );
    assert!(html(&short).contains(r#"value="robin@riverbend.example""#));
    let bad_email = app
        .send(send(new_user("not-an-address", "a long first password")))
        .await;
    assert_eq!(bad_email.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&bad_email).contains(r#"class="error" id="form-error">Email: "#));
    let taken = app
        .send(send(new_user(
            "frontdesk@riverbend.example",
            "a long first password",
        )))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(
        html(&taken).contains("Email: a user with this e-mail address already exists"),
        "{}",
        html(&taken)
    );
    // Without the token: refused before anything is written.
    let mut forged = new_user("robin@riverbend.example", "a long first password");
    forged[0].1 = String::new();
    assert_eq!(app.send(send(forged)).await.status, StatusCode::FORBIDDEN);

    let added = app
        .send(send(new_user(
            "robin@riverbend.example",
            "a long first password",
        )))
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", html(&added));
    let back = location(&added).to_owned();
    assert!(back.starts_with("/admin/users?added="), "{back}");
    let shown = page(&app, &back, &admin).await;
    assert!(
        html(&shown).contains(r#"<p role="status" class="notice">Added Robin Web-Test (staff)."#),
        "{}",
        html(&shown)
    );
    assert!(html(&shown).contains("robin@riverbend.example"));

    let robin = web_sign_in(&app, "robin@riverbend.example", "a long first password").await;
    let today = page(&app, "/", &robin).await;
    assert!(html(&today).contains(r#"<span id="current-user">Robin Web-Test (staff)</span>"#));
    assert!(
        !html(&today).contains(r#"href="/admin/users""#),
        "no Admin link for staff"
    );

    // The audit log names the admin as the one who added the user.
    let actor: Option<String> = sqlx::query_scalar(
        "select a.full_name from audit_log l join users a on a.id = l.actor_user_id
          where l.table_name = 'users' and l.action = 'INSERT'
            and l.record_id = (select id from users where email = 'robin@riverbend.example')",
    )
    .fetch_optional(&app.db.pool)
    .await
    .unwrap();
    assert!(actor.is_some(), "the insert was made as the admin");
    app.close().await;
}

#[tokio::test]
async fn an_admin_changes_a_role_and_deactivates_a_user_but_not_another_practices() {
    let app = TestApp::spawn().await;
    let admin = web_sign_in(&app, &app.email_of(0, "admin").await, PASSWORD).await;
    let token = csrf_token(html(&page(&app, "/admin/users", &admin).await));
    let billing_email = app.email_of(0, "billing").await;
    let billing_id: Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(&billing_email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();

    let changed = app
        .send(post(
            &format!("/admin/users/{billing_id}/role"),
            Some(&admin),
            &[("csrf_token", &token), ("role", "staff")],
        ))
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    let shown = page(&app, location(&changed), &admin).await;
    assert!(html(&shown).contains(r#"<p role="status" class="notice">"#));
    let role: String = sqlx::query_scalar("select role::text from users where id = $1")
        .bind(billing_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(role, "staff");

    let billing_session = web_sign_in(&app, &billing_email, PASSWORD).await;
    let deactivated = app
        .send(post(
            &format!("/admin/users/{billing_id}/active"),
            Some(&admin),
            &[("csrf_token", &token), ("active", "false")],
        ))
        .await;
    assert_eq!(deactivated.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page(&app, "/", &billing_session).await.status,
        StatusCode::SEE_OTHER,
        "a deactivated user's session stops at once"
    );

    // Another practice's user is not found, and stays as it was.
    let other_email = app.email_of(1, "staff").await;
    let other_id: Uuid = sqlx::query_scalar("select id from users where email = $1")
        .bind(&other_email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    for (action, field, value) in [("role", "role", "admin"), ("active", "active", "false")] {
        let answer = app
            .send(post(
                &format!("/admin/users/{other_id}/{action}"),
                Some(&admin),
                &[("csrf_token", &token), (field, value)],
            ))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{action}");
        assert!(html(&answer).contains("Not found"));
    }
    let (role, active): (String, bool) =
        sqlx::query_as("select role::text, is_active from users where id = $1")
            .bind(other_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((role.as_str(), active), ("staff", true));
    app.close().await;
}

#[tokio::test]
async fn only_admins_open_the_administration_pages() {
    let app = TestApp::spawn().await;
    for role in ["provider", "billing", "staff"] {
        let cookie = web_sign_in(&app, &app.email_of(0, role).await, PASSWORD).await;
        for path in ["/admin/users", "/admin/providers", "/admin/audit"] {
            let answer = page(&app, path, &cookie).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{role} {path}");
            let body = html(&answer);
            assert!(body.contains("Not allowed"), "{body}");
            assert!(!body.contains(r#"<table id="users">"#));
            assert!(!body.contains(r#"<form id="new-user""#));
            assert!(
                body.contains(r#"<span id="current-user">"#),
                "inside the layout"
            );
        }
        let token = csrf_token(html(&page(&app, "/", &cookie).await));
        let answer = app
            .send(post(
                "/admin/users",
                Some(&cookie),
                &[
                    ("csrf_token", &token),
                    ("full_name", "Sneaky"),
                    ("email", "sneaky@riverbend.example"),
                    ("role", "admin"),
                    ("password", "a long first password"),
                ],
            ))
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{role}");
    }
    let sneaky: i64 =
        sqlx::query_scalar("select count(*) from users where email = 'sneaky@riverbend.example'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(sneaky, 0);
    app.close().await;
}

#[tokio::test]
async fn the_audit_page_verifies_the_chain_and_pages_backwards() {
    let app = TestApp::spawn().await;
    let admin = web_sign_in(&app, &app.email_of(0, "admin").await, PASSWORD).await;
    let answer = page(&app, "/admin/audit", &admin).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = html(&answer);
    assert!(
        body.contains(
            r#"<p role="status" class="notice" id="chain-status">Audit chain verified: all "#
        ),
        "{body}"
    );
    assert!(body.contains(r#"<table id="audit-log">"#));
    assert_eq!(
        body.matches("<tr>").count(),
        1 + 100,
        "a header and 100 rows"
    );
    let older_start = body.find(r#"<a href="/admin/audit?before="#).unwrap() + 9;
    let older = &body[older_start..][..body[older_start..].find('"').unwrap()];
    let next = page(&app, older, &admin).await;
    assert_eq!(next.status, StatusCode::OK);
    assert!(html(&next).contains(r#"<a href="/admin/audit">Newest</a>"#));

    // Filters: one table; an MRN that is not the practice's matches nothing, said so.
    let users_only = page(&app, "/admin/audit?table=users", &admin).await;
    let rows = html(&users_only).matches("<td>users</td>").count();
    assert!(rows > 0);
    assert_eq!(html(&users_only).matches("<tr>").count(), 1 + rows);
    let nobody = page(&app, "/admin/audit?patient=NO-SUCH-MRN", &admin).await;
    assert!(html(&nobody).contains(r#"<p role="alert" class="error">Patient: "#));

    // A broken chain is reported on the page (the owner edits a row behind the trigger's back).
    let org: Uuid = sqlx::query_scalar("select org_id from users where email = $1")
        .bind(app.email_of(0, "admin").await)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let mut tx = app.db.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let altered =
        sqlx::query("update audit_log set action = 'DELETE' where org_id = $1 and seq = 3")
            .bind(org)
            .execute(&mut *tx)
            .await
            .unwrap();
    assert_eq!(altered.rows_affected(), 1);
    tx.commit().await.unwrap();
    let broken = page(&app, "/admin/audit", &admin).await;
    assert!(
        html(&broken).contains(
            r#"<p role="alert" class="error" id="chain-status">Audit chain broken at seq 3"#
        ),
        "{}",
        html(&broken)
    );
    app.close().await;
}

#[tokio::test]
async fn providers_are_added_and_a_wrong_npi_is_named() {
    let app = TestApp::spawn().await;
    let admin = web_sign_in(&app, &app.email_of(0, "admin").await, PASSWORD).await;
    let token = csrf_token(html(&page(&app, "/admin/users", &admin).await));
    let added = app
        .send(post(
            "/admin/users",
            Some(&admin),
            &[
                ("csrf_token", &token),
                ("full_name", "Casey Clinician"),
                ("email", "casey@riverbend.example"),
                ("role", "provider"),
                ("password", "a long first password"),
            ],
        ))
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let user_id: Uuid =
        sqlx::query_scalar("select id from users where email = 'casey@riverbend.example'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let providers = page(&app, "/admin/providers", &admin).await;
    assert_eq!(providers.status, StatusCode::OK);
    assert!(
        html(&providers).contains(&format!(r#"<option value="{user_id}">"#)),
        "the new provider-role user is offered"
    );
    let user_id = user_id.to_string();
    let form = |npi: &'static str| {
        vec![
            ("csrf_token", token.as_str()),
            ("user_id", user_id.as_str()),
            ("first_name", "Casey"),
            ("last_name", "Clinician"),
            ("credentials", "LCSW"),
            ("npi", npi),
            ("license_state", "tx"),
            ("preferred_note_format", "DAP"),
        ]
    };
    let wrong = app
        .send(post("/admin/providers", Some(&admin), &form("1234567890")))
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html(&wrong).contains("NPI: not a valid NPI"),
        "{}",
        html(&wrong)
    );
    assert!(
        html(&wrong).contains(r#"value="Casey""#),
        "the form keeps what was typed"
    );

    let right = app
        .send(post("/admin/providers", Some(&admin), &form("1234567893")))
        .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", html(&right));
    let shown = page(&app, location(&right), &admin).await;
    assert!(
        html(&shown).contains(r#"<p role="status" class="notice">Added Casey Clinician, LCSW."#)
    );
    let (state, format): (String, String) = sqlx::query_as(
        "select license_state, preferred_note_format::text from providers where npi = '1234567893'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), format.as_str()), ("TX", "DAP"));
    app.close().await;
}

#[tokio::test]
async fn the_patient_list_searches_within_the_practice() {
    let app = TestApp::spawn().await;
    let staff = web_sign_in(&app, &app.email_of(0, "staff").await, PASSWORD).await;
    let (last_name, mrn): (String, String) = sqlx::query_as(
        "select p.last_name, p.mrn from patients p join users u on u.org_id = p.org_id
          where u.email = $1 order by p.last_name limit 1",
    )
    .bind(app.email_of(0, "staff").await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let all = page(&app, "/patients", &staff).await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(html(&all).contains(&mrn));

    let search = page(
        &app,
        &format!("/patients?q={}", encoded(&last_name)),
        &staff,
    )
    .await;
    assert!(html(&search).contains(&mrn));
    assert!(html(&search).contains(&format!(r#"value="{last_name}""#)));

    // Another practice's patient is not found by name or MRN.
    let (other_last, other_mrn): (String, String) = sqlx::query_as(
        "select p.last_name, p.mrn from patients p join users u on u.org_id = p.org_id
          where u.email = $1 order by p.last_name limit 1",
    )
    .bind(app.email_of(1, "staff").await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(html(&all).contains(&format!(r#"<td class="mono">{mrn}</td>"#)));
    for q in [&other_mrn, &other_last] {
        let other = page(&app, &format!("/patients?q={}", encoded(q)), &staff).await;
        assert!(
            !html(&other).contains(&format!(r#"<td class="mono">{other_mrn}</td>"#)),
            "{q}"
        );
    }

    // Wildcards in the search are literal.
    let wild = page(&app, "/patients?q=%25", &staff).await;
    assert!(html(&wild).contains("No patient matches"));
    app.close().await;
}

#[tokio::test]
async fn a_provider_sees_their_day() {
    let app = TestApp::spawn().await;
    let email = app.email_of(0, "provider").await;
    let cookie = web_sign_in(&app, &email, PASSWORD).await;
    let today = page(&app, "/", &cookie).await;
    assert_eq!(today.status, StatusCode::OK);
    let body = html(&today);
    assert!(body.contains("Your appointments today"), "{body}");
    let expected: i64 = sqlx::query_scalar(
        "select count(*) from appointments a
           join providers p on p.org_id = a.org_id and p.id = a.provider_id
           join users u on u.org_id = p.org_id and u.id = p.user_id
           join organizations o on o.id = a.org_id
          where u.email = $1
            and (a.starts_at at time zone o.time_zone)::date = (now() at time zone o.time_zone)::date",
    )
    .bind(&email)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let rows = body.matches("<tr>").count();
    if expected == 0 {
        assert!(body.contains("No appointments today."));
    } else {
        assert_eq!(rows as i64, 1 + expected, "{body}");
    }
    app.close().await;
}

#[tokio::test]
async fn unknown_ids_in_admin_forms_are_not_found() {
    let app = TestApp::spawn().await;
    let admin = web_sign_in(&app, &app.email_of(0, "admin").await, PASSWORD).await;
    let token = csrf_token(html(&page(&app, "/admin/users", &admin).await));
    for path in [
        "/admin/users/not-a-uuid/role".to_owned(),
        format!("/admin/users/{}/role", Uuid::new_v4()),
    ] {
        let answer = app
            .send(post(
                &path,
                Some(&admin),
                &[("csrf_token", &token), ("role", "staff")],
            ))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(html(&answer).contains("<h1>Not found</h1>"));
    }
    app.close().await;
}
