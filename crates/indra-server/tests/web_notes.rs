//! The note editor over HTTP, in-process against the real database, signed in with a session
//! cookie: starting a draft from an encounter, saving (and a stale save that keeps the text),
//! autosave's API call, signing, amending and adding an addendum, the history with its
//! differences and verification, cosigning, and who may not open a note.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::TestApp;
use common::web::{encoded, get, html, location, web_sign_in};
use serde_json::json;
use uuid::Uuid;

fn post(path: &str, cookie: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(name, value)| format!("{name}={}", encoded(value)))
        .collect::<Vec<_>>()
        .join("&");
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

/// The value of the hidden input `name` of a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..][..page[start..].find('"').unwrap()].to_owned()
}

/// askama escapes quotes in attribute values; a form posts them back unescaped.
fn unescaped(value: &str) -> String {
    value.replace("&#34;", "\"").replace("&quot;", "\"")
}

/// A clinician of organization 0 writing in `format` without supervision: email, provider id.
async fn clinician(app: &TestApp, format: &str) -> (String, Uuid) {
    let org_email = app.email_of(0, "admin").await;
    sqlx::query_as(
        "select u.email::text, p.id from providers p join users u on u.org_id = p.org_id and u.id = p.user_id
          where p.org_id = (select org_id from users where email = $1)
            and p.preferred_note_format = $2::note_format and not p.requires_supervision
          order by u.email limit 1",
    )
    .bind(org_email)
    .bind(format)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// A new encounter of one of the clinician's patients, opened through the API.
async fn an_encounter(app: &TestApp, email: &str, provider_id: Uuid) -> Uuid {
    let patient_id: Uuid = sqlx::query_scalar(
        "select id from patients where primary_provider_id = $1 order by id limit 1",
    )
    .bind(provider_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let token = app.sign_in(email).await;
    let answer = app
        .call(
            Method::POST,
            "/api/v1/encounters",
            Some(&token),
            Some(json!({"patient_id": patient_id, "provider_id": provider_id,
                        "encounter_type": "individual_therapy"})),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body["id"].as_str().unwrap().parse().unwrap()
}

/// Starts a draft from the encounter's "new note" page; returns its id.
async fn start_draft(app: &TestApp, cookie: &str, encounter: Uuid) -> Uuid {
    let form = app
        .send(get(&format!("/encounters/{encounter}/notes/new"), cookie))
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", html(&form));
    let page = html(&form);
    let started = app
        .send(post(
            &format!("/encounters/{encounter}/notes/new"),
            cookie,
            &[
                ("csrf_token", &hidden(page, "csrf_token")),
                ("note_key", &hidden(page, "note_key")),
                ("format", "SOAP"),
            ],
        ))
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", html(&started));
    let to = location(&started);
    assert!(to.ends_with("?started=1"), "{to}");
    to.trim_start_matches("/notes/")
        .trim_end_matches("?started=1")
        .parse()
        .unwrap()
}

fn soap<'a>(
    csrf: &'a str,
    etag: &'a str,
    subjective: &'a str,
    plan: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf_token", csrf),
        ("etag", etag),
        ("section_subjective", subjective),
        ("section_objective", "Alert, oriented, engaged."),
        ("section_assessment", "Anxiety lower than last week."),
        ("section_plan", plan),
    ]
}

#[tokio::test]
async fn a_clinician_writes_saves_signs_amends_and_adds_to_a_note() {
    let app = TestApp::spawn().await;
    let (email, provider_id) = clinician(&app, "SOAP").await;
    let encounter = an_encounter(&app, &email, provider_id).await;
    let cookie = web_sign_in(&app, &email).await;

    // The new-note page offers the clinician's preferred format first.
    let form = app
        .send(get(&format!("/encounters/{encounter}/notes/new"), &cookie))
        .await;
    assert!(
        html(&form).contains(r#"<option value="SOAP" selected>"#),
        "{}",
        html(&form)
    );
    let id = start_draft(&app, &cookie, encounter).await;

    // The editor: one labelled text area per SOAP section, the ETag, the autosave script.
    let opened = app.send(get(&format!("/notes/{id}"), &cookie)).await;
    assert_eq!(opened.status, StatusCode::OK);
    let page = html(&opened).to_owned();
    for key in ["subjective", "objective", "assessment", "plan"] {
        assert!(
            page.contains(&format!(r#"<label for="section-{key}">"#)),
            "{key}"
        );
        assert!(page.contains(&format!(r#"name="section_{key}""#)), "{key}");
    }
    assert!(page.contains(r#"<form id="note-editor""#));
    assert!(page.contains(r#"<form id="sign-note""#));
    assert!(page.contains("part of the legal record"));
    assert!(page.contains(r#"<script src="/assets/note-autosave.js" defer></script>"#));
    assert!(page.contains(r#"aria-live="polite""#));
    let policy = opened.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    let csrf = hidden(&page, "csrf_token");
    let opened_etag = unescaped(&hidden(&page, "etag"));

    // Save.
    let saved = app
        .send(post(
            &format!("/notes/{id}"),
            &cookie,
            &soap(&csrf, &opened_etag, "Slept better.", "Weekly CBT."),
        ))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", html(&saved));
    assert_eq!(location(&saved), format!("/notes/{id}?saved=1"));

    // A save from the page as it was first opened is stale: said clearly, the text kept.
    let stale = app
        .send(post(
            &format!("/notes/{id}"),
            &cookie,
            &soap(&csrf, &opened_etag, "Typed in another tab.", "Weekly CBT."),
        ))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(
        html(&stale).contains("changed since you opened it"),
        "{}",
        html(&stale)
    );
    assert!(html(&stale).contains("Typed in another tab."));
    let after_stale = app.send(get(&format!("/notes/{id}"), &cookie)).await;
    assert!(html(&after_stale).contains("Slept better."));
    assert!(!html(&after_stale).contains("Typed in another tab."));

    // Autosave's call: the JSON API with the session cookie, the CSRF header and If-Match.
    let etag = unescaped(&hidden(html(&after_stale), "etag"));
    let autosaved = app
        .call(
            Method::PATCH,
            &format!("/api/v1/notes/{id}"),
            None,
            Some(
                json!({"content": {"subjective": "Slept better.\nFewer panic attacks.",
                                    "objective": "Alert, oriented, engaged.",
                                    "assessment": "Anxiety lower than last week.",
                                    "plan": "Weekly CBT."}}),
            ),
            &[
                ("cookie", cookie.as_str()),
                ("x-csrf-token", csrf.as_str()),
                ("if-match", etag.as_str()),
            ],
        )
        .await;
    assert_eq!(autosaved.status, StatusCode::OK, "{:?}", autosaved.body);
    let script = app.send(get("/assets/note-autosave.js", &cookie)).await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(html(&script).contains("X-CSRF-Token") && html(&script).contains("If-Match"));

    // Signing the version the page showed before the autosave is refused; the current one signs.
    let refused = app
        .send(post(
            &format!("/notes/{id}/sign"),
            &cookie,
            &[("csrf_token", &csrf), ("etag", &etag)],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert!(html(&refused).contains("nothing was signed"));
    let current = app.send(get(&format!("/notes/{id}"), &cookie)).await;
    let etag = unescaped(&hidden(html(&current), "etag"));
    let signed = app
        .send(post(
            &format!("/notes/{id}/sign"),
            &cookie,
            &[("csrf_token", &csrf), ("etag", &etag)],
        ))
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", html(&signed));
    let signed_page = app
        .send(get(&format!("/notes/{id}?signed=1"), &cookie))
        .await;
    let page = html(&signed_page);
    assert!(!page.contains(r#"id="note-editor""#), "{page}");
    assert!(!page.contains(r#"id="sign-note""#));
    assert!(page.contains(r#"id="note-status">signed<"#));
    assert!(page.contains("<td>Author</td>"));
    assert!(page.contains(r#"<form id="amend-note""#));
    assert!(page.contains(r#"<form id="addendum-note""#));
    assert!(
        !page.contains(r#"id="cosign-note""#),
        "the author cosigns nothing"
    );

    // An amendment needs its reason; the typed correction stays in the form.
    // A browser posts a text area's lines with CRLF (autosave sent LF).
    let mut amendment = soap(
        &csrf,
        "",
        "Slept better.\r\nNo panic attacks.",
        "Weekly CBT.",
    );
    amendment.push(("reason", " "));
    let no_reason = app
        .send(post(&format!("/notes/{id}/amend"), &cookie, &amendment))
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&no_reason).contains("Reason for the amendment"));
    assert!(html(&no_reason).contains("No panic attacks."));
    amendment.pop();
    amendment.push(("reason", "Corrected the panic attack count"));
    let amended = app
        .send(post(&format!("/notes/{id}/amend"), &cookie, &amendment))
        .await;
    assert_eq!(amended.status, StatusCode::SEE_OTHER, "{}", html(&amended));
    let v2: Uuid = location(&amended)
        .trim_start_matches("/notes/")
        .trim_end_matches("?amended=1")
        .parse()
        .unwrap();
    assert_ne!(v2, id);

    let history = app
        .send(get(&format!("/notes/{v2}/history"), &cookie))
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let page = html(&history);
    assert!(page.contains(r#"id="version-1""#) && page.contains(r#"id="version-2""#));
    assert!(page.contains("<del>Fewer panic attacks.</del>"), "{page}");
    assert!(page.contains("<ins>No panic attacks.</ins>"));
    assert!(
        !page.contains("<del>Slept better.</del>"),
        "an unchanged line shows as changed: {page}"
    );
    assert!(page.contains(r#"id="diff-legend""#));
    assert!(page.contains("Corrected the panic attack count"));
    assert!(page.contains("Verified: every signed version is intact"));
    assert!(page.contains("(signature valid)"));

    // The superseded version no longer offers to amend; the current one takes an addendum.
    let old = app.send(get(&format!("/notes/{id}"), &cookie)).await;
    assert!(html(&old).contains("(superseded)"));
    assert!(!html(&old).contains(r#"id="amend-note""#));
    let addended = app
        .send(post(
            &format!("/notes/{v2}/addendum"),
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("addendum_text", "Client called: sleep still good."),
                ("addendum_reason", "Follow-up call"),
            ],
        ))
        .await;
    assert_eq!(
        addended.status,
        StatusCode::SEE_OTHER,
        "{}",
        html(&addended)
    );
    let v3 = location(&addended).to_owned();
    let v3_page = app.send(get(&v3, &cookie)).await;
    assert!(html(&v3_page).contains("Client called: sleep still good."));
    assert!(html(&v3_page).contains("addendum: Follow-up call"));

    // Billing and the front desk never open a note: 404, like a note that does not exist.
    for role in ["billing", "staff"] {
        let other = web_sign_in(&app, &app.email_of(0, role).await).await;
        for path in [format!("/notes/{id}"), format!("/notes/{id}/history")] {
            let answer = app.send(get(&path, &other)).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{role} {path}");
            assert!(!html(&answer).contains("Slept better."));
        }
    }
    // Another practice's clinician neither.
    let elsewhere = web_sign_in(&app, &app.email_of(1, "provider").await).await;
    let answer = app.send(get(&format!("/notes/{id}"), &elsewhere)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    app.close().await;
}

#[tokio::test]
async fn a_form_without_the_session_csrf_token_changes_nothing() {
    let app = TestApp::spawn().await;
    let (email, provider_id) = clinician(&app, "SOAP").await;
    let encounter = an_encounter(&app, &email, provider_id).await;
    let cookie = web_sign_in(&app, &email).await;
    let id = start_draft(&app, &cookie, encounter).await;
    let page = app.send(get(&format!("/notes/{id}"), &cookie)).await;
    let etag = unescaped(&hidden(html(&page), "etag"));
    let forged = app
        .send(post(
            &format!("/notes/{id}/sign"),
            &cookie,
            &[("csrf_token", "not-the-token"), ("etag", &etag)],
        ))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let status: String =
        sqlx::query_scalar("select status::text from clinical_notes where id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "draft");
    app.close().await;
}

#[tokio::test]
async fn the_supervisor_cosigns_a_note_awaiting_their_cosignature() {
    let app = TestApp::spawn().await;
    let org_email = app.email_of(0, "admin").await;
    let (note, supervisor, author): (Uuid, String, String) = sqlx::query_as(
        "select n.id, su.email::text, au.email::text
           from clinical_notes n
           join providers p on p.org_id = n.org_id and p.id = n.author_provider_id
           join users au on au.id = p.user_id
           join providers s on s.org_id = p.org_id and s.id = p.supervisor_id
           join users su on su.id = s.user_id
          where n.org_id = (select org_id from users where email = $1)
            and n.status = 'signed' and p.requires_supervision
            and not exists (select 1 from note_signatures g where g.note_id = n.id
                             and g.signature_type = 'supervisor')
          order by n.id limit 1",
    )
    .bind(org_email)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();

    // The author sees that it waits, and no Cosign button; neither does a colleague.
    let author = web_sign_in(&app, &author).await;
    let page = app.send(get(&format!("/notes/{note}"), &author)).await;
    assert!(html(&page).contains(r#"id="awaiting-cosignature""#));
    assert!(!html(&page).contains(r#"id="cosign-note""#));
    let (colleague, _) = clinician(&app, "SOAP").await;
    let colleague = web_sign_in(&app, &colleague).await;
    let page = app.send(get(&format!("/notes/{note}"), &colleague)).await;
    assert!(!html(&page).contains(r#"id="cosign-note""#));

    let supervisor = web_sign_in(&app, &supervisor).await;
    let page = app.send(get(&format!("/notes/{note}"), &supervisor)).await;
    assert!(
        html(&page).contains(r#"<form id="cosign-note""#),
        "{}",
        html(&page)
    );
    let csrf = hidden(html(&page), "csrf_token");
    let cosigned = app
        .send(post(
            &format!("/notes/{note}/cosign"),
            &supervisor,
            &[("csrf_token", &csrf)],
        ))
        .await;
    assert_eq!(
        cosigned.status,
        StatusCode::SEE_OTHER,
        "{}",
        html(&cosigned)
    );
    let page = app.send(get(&format!("/notes/{note}"), &supervisor)).await;
    assert!(html(&page).contains("Supervisor (cosignature)"));
    assert!(!html(&page).contains(r#"id="awaiting-cosignature""#));
    assert!(!html(&page).contains(r#"id="cosign-note""#));
    app.close().await;
}

#[tokio::test]
async fn the_chart_links_each_note_and_offers_a_note_where_there_is_none() {
    let app = TestApp::spawn().await;
    let (email, provider_id) = clinician(&app, "SOAP").await;
    let encounter = an_encounter(&app, &email, provider_id).await;
    let patient: Uuid = sqlx::query_scalar("select patient_id from encounters where id = $1")
        .bind(encounter)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let cookie = web_sign_in(&app, &email).await;
    let chart = app
        .send(get(&format!("/patients/{patient}"), &cookie))
        .await;
    let page = html(&chart);
    assert!(
        page.contains(&format!(r#"href="/encounters/{encounter}/notes/new""#)),
        "{page}"
    );
    assert!(page.contains(r#"class="note-link""#));
    let id = start_draft(&app, &cookie, encounter).await;
    let chart = app
        .send(get(&format!("/patients/{patient}"), &cookie))
        .await;
    assert!(html(&chart).contains(&format!(r#"href="/notes/{id}""#)));
    assert!(!html(&chart).contains(&format!("/encounters/{encounter}/notes/new")));

    // The front desk sees neither.
    let desk = web_sign_in(&app, &app.email_of(0, "staff").await).await;
    let chart = app.send(get(&format!("/patients/{patient}"), &desk)).await;
    assert!(!html(&chart).contains("/notes/"));
    app.close().await;
}
