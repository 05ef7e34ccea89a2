//! The assistant in the web application: the panel on Today and the chart, the run page (live
//! status, highlighted evidence, review forms, commit, "Open as note"), and the admin's page.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use common::TestApp;
use common::web::{get, hidden, html, location, post, web_sign_in};
use uuid::Uuid;

async fn patient(app: &TestApp) -> (Uuid, String) {
    sqlx::query_as(
        "select id, first_name || ' ' || last_name from patients p
          where org_id = (select id from organizations order by name limit 1) and status = 'active'
            and (select count(*) from patients q where q.org_id = p.org_id and q.first_name = p.first_name) = 1
          order by mrn limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn wait_until_settled(app: &TestApp, cookie: &str, run: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = app
            .send(get(&format!("/assistant/runs/{run}/status"), cookie))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        let status = answer.body["status"].as_str().unwrap().to_owned();
        if status != "pending" && status != "running" {
            return status;
        }
        assert!(Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of the run page's proposal cards, with their headings.
fn cards(page: &str) -> Vec<(String, String)> {
    page.match_indices(r#"<article class="panel action-card" id="action-"#)
        .map(|(at, marker)| {
            let rest = &page[at + marker.len()..];
            let id = rest[..36].to_owned();
            let heading = rest[rest.find("-heading\">").unwrap() + 10..]
                .split(" <span")
                .next()
                .unwrap()
                .to_owned();
            (id, heading)
        })
        .collect()
}

#[tokio::test]
async fn a_clinician_dictates_from_the_chart_reviews_commits_and_opens_the_note() {
    let app = TestApp::spawn().await;
    let cookie = web_sign_in(&app, &app.email_of(0, "provider").await).await;
    let (patient_id, name) = patient(&app).await;

    let today = app.send(get("/", &cookie)).await;
    assert_eq!(today.status, StatusCode::OK);
    assert!(html(&today).contains(r#"id="assistant-panel""#));
    assert!(html(&today).contains(
        r#"<button type="button" id="assistant-dictate" class="button-secondary" hidden>"#
    ));
    let policy = today.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");

    let chart = app
        .send(get(&format!("/patients/{patient_id}"), &cookie))
        .await;
    let chart_page = html(&chart);
    assert!(chart_page.contains(r#"id="assistant-panel""#));
    assert_eq!(hidden(chart_page, "patient_id"), patient_id.to_string());
    let csrf = hidden(chart_page, "csrf_token");

    // A form without the session's token is refused.
    let forged = app
        .send(post(
            "/assistant/runs",
            &cookie,
            &[
                ("csrf_token", "forged"),
                ("input_text", "Individual session, 50 minutes."),
            ],
        ))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Accented words before the evidence: offsets are characters, not bytes.
    let text = format!(
        "Individual session with {name} today — 50 minutes. Reports sleeping better, fewer cafés at night. \
         Plan: continue CBT. Schedule next Tuesday at 3."
    );
    let started = app
        .send(post(
            "/assistant/runs",
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("patient_id", &patient_id.to_string()),
                ("input_text", &text),
            ],
        ))
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{:?}", started.body);
    let run_path = location(&started).to_owned();
    let run = run_path.rsplit('/').next().unwrap().to_owned();

    let first = app.send(get(&run_path, &cookie)).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(html(&first).contains(&format!(r#"data-run-id="{run}""#)));

    assert_eq!(
        wait_until_settled(&app, &cookie, &run).await,
        "ready_to_commit"
    );
    let page = app.send(get(&run_path, &cookie)).await;
    let page = html(&page).to_owned();
    assert!(page.contains("<mark>50 minutes</mark>"), "{page}");
    let found = cards(&page);
    let headings: Vec<&str> = found.iter().map(|(_, h)| h.as_str()).collect();
    assert!(headings.contains(&"Session (encounter)"), "{headings:?}");
    assert!(headings.contains(&"Note draft"), "{headings:?}");
    assert!(headings.contains(&"Next appointment"), "{headings:?}");

    for (id, heading) in &found {
        let path = format!("/assistant/actions/{id}/review");
        let answer = match heading.as_str() {
            "Billing codes" => {
                app.send(post(
                    &path,
                    &cookie,
                    &[("csrf_token", &csrf), ("decision", "reject")],
                ))
                .await
            }
            "Note draft" => {
                // Every section of the format, the first rewritten.
                let card = &page[page.find(&format!(r#"id="action-{id}""#)).unwrap()..];
                let card = &card[..card.find("</article>").unwrap()];
                let mut fields = vec![("csrf_token", csrf.clone()), ("decision", "edit".into())];
                let names: Vec<String> = card
                    .match_indices(r#"name="section_"#)
                    .map(|(at, m)| {
                        let rest = &card[at + m.len()..];
                        format!("section_{}", &rest[..rest.find('"').unwrap()])
                    })
                    .collect();
                assert!(!names.is_empty(), "{card}");
                for (i, name) in names.iter().enumerate() {
                    let text = if i == 0 {
                        "Rewritten on the review page."
                    } else {
                        "Kept."
                    };
                    fields.push((name.as_str(), text.to_owned()));
                }
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
                app.send(post(&path, &cookie, &fields)).await
            }
            "Next appointment" => {
                // A bad time is refused; a good one is kept.
                let bad = app
                    .send(post(
                        &path,
                        &cookie,
                        &[
                            ("csrf_token", &csrf),
                            ("decision", "edit"),
                            ("date", "2031-01-07"),
                            ("time", "25:00"),
                        ],
                    ))
                    .await;
                assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
                app.send(post(
                    &path,
                    &cookie,
                    &[
                        ("csrf_token", &csrf),
                        ("decision", "edit"),
                        ("date", "2031-01-07"),
                        ("time", "16:30"),
                        ("minutes", "45"),
                    ],
                ))
                .await
            }
            _ => {
                app.send(post(
                    &path,
                    &cookie,
                    &[("csrf_token", &csrf), ("decision", "accept")],
                ))
                .await
            }
        };
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{heading}: {:?}",
            answer.body
        );
        assert!(location(&answer).starts_with(&run_path));
    }
    let reviewed = app.send(get(&run_path, &cookie)).await;
    let reviewed = html(&reviewed);
    assert!(reviewed.contains("Rewritten on the review page."));
    assert!(reviewed.contains(r#"value="16:30""#));

    let committed = app
        .send(post(
            &format!("/assistant/runs/{run}/commit"),
            &cookie,
            &[("csrf_token", &csrf)],
        ))
        .await;
    assert_eq!(committed.status, StatusCode::SEE_OTHER);
    let done = app.send(get(&run_path, &cookie)).await;
    let done = html(&done).to_owned();
    assert!(done.contains(r#"id="created""#), "{done}");
    assert!(done.contains(&format!(r#"href="/patients/{patient_id}""#)));
    let appointment: Uuid = sqlx::query_scalar(
        "select id from appointments where patient_id = $1 and starts_at = timestamp '2031-01-07 16:30' at time zone
                (select time_zone from organizations where id = appointments.org_id)",
    )
    .bind(patient_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(done.contains(&format!(r#"href="/appointments/{appointment}""#)));

    let open = &done[done.find(r#"action="/assistant/note-drafts/"#).unwrap() + 8..];
    let open = &open[..open.find('"').unwrap()];
    let opened = app
        .send(post(open, &cookie, &[("csrf_token", &csrf)]))
        .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
    let note_path = location(&opened).to_owned();
    assert!(note_path.starts_with("/notes/"), "{note_path}");
    let note = app.send(get(&note_path, &cookie)).await;
    assert_eq!(note.status, StatusCode::OK);
    assert!(html(&note).contains("Rewritten on the review page."));
    // Twice: the same note.
    let again = app
        .send(post(open, &cookie, &[("csrf_token", &csrf)]))
        .await;
    assert_eq!(location(&again), note_path);

    // The run is listed on the assistant's page.
    let list = app.send(get("/assistant", &cookie)).await;
    assert!(html(&list).contains(&format!(r#"href="/assistant/runs/{run}""#)));
    app.close().await;
}

#[tokio::test]
async fn others_see_no_panel_and_cannot_open_someone_elses_run() {
    let app = TestApp::spawn().await;
    let provider = web_sign_in(&app, &app.email_of(0, "provider").await).await;
    let today = app.send(get("/", &provider)).await;
    let csrf = hidden(html(&today), "csrf_token");
    let started = app
        .send(post(
            "/assistant/runs",
            &provider,
            &[
                ("csrf_token", &csrf),
                ("input_text", "Individual session today, 50 minutes."),
            ],
        ))
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let run_path = location(&started).to_owned();

    for (org, role) in [(0, "billing"), (0, "staff"), (1, "provider"), (1, "admin")] {
        let cookie = web_sign_in(&app, &app.email_of(org, role).await).await;
        let today = app.send(get("/", &cookie)).await;
        // Another practice's clinician has a panel of their own; billing and the desk none.
        assert_eq!(
            html(&today).contains(r#"id="assistant-panel""#),
            role == "provider",
            "{org} {role}"
        );
        // The navigation offers the assistant to those who can use it: clinicians and admins.
        assert_eq!(
            html(&today).contains(r#"href="/assistant""#),
            role == "provider" || role == "admin",
            "{org} {role}: the Assistant link"
        );
        let run = app.send(get(&run_path, &cookie)).await;
        assert_eq!(run.status, StatusCode::NOT_FOUND, "{org} {role}");
        if org == 0 {
            let csrf = hidden(html(&today), "csrf_token");
            let refused = app
                .send(post(
                    "/assistant/runs",
                    &cookie,
                    &[
                        ("csrf_token", &csrf),
                        ("input_text", "Individual session today."),
                    ],
                ))
                .await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
        }
    }
    app.close().await;
}

#[tokio::test]
async fn the_admin_chooses_the_model_with_a_warning_and_sees_the_costs() {
    let app = TestApp::spawn().await;
    let admin = web_sign_in(&app, &app.email_of(0, "admin").await).await;
    let page = app.send(get("/admin/assistant", &admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = html(&page);
    assert!(body.contains(r#"id="external-warning""#));
    assert!(body.contains("date of birth"));
    assert!(
        body.contains(r#"id="assistant-costs""#),
        "the demo's runs are counted"
    );
    let csrf = hidden(body, "csrf_token");

    let refused = app
        .send(post(
            "/admin/assistant",
            &admin,
            &[
                ("csrf_token", &csrf),
                ("model_kind", "openai"),
                ("model_name", "gpt-4o-mini"),
            ],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&refused).contains(r#"id="settings-error""#));
    assert!(
        html(&refused).contains(r#"value="gpt-4o-mini""#),
        "what was typed stays"
    );

    let saved = app
        .send(post(
            "/admin/assistant",
            &admin,
            &[
                ("csrf_token", &csrf),
                ("model_kind", "openai"),
                ("model_name", "gpt-4o-mini"),
                ("api_key_env", "INDRA_TEST_NO_SUCH_KEY"),
                ("external_allowed", "on"),
            ],
        ))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let kind: String = sqlx::query_scalar(
        "select model_kind from ai_settings where org_id = (select id from organizations order by name limit 1)",
    )
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(kind, "openai");
    let shown = app.send(get("/admin/assistant?saved=1", &admin)).await;
    assert!(html(&shown).contains("does not have this variable set"));

    let provider = web_sign_in(&app, &app.email_of(0, "provider").await).await;
    let forbidden = app.send(get("/admin/assistant", &provider)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    app.close().await;
}
