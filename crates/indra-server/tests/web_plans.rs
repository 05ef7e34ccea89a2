//! Today's note lists and the treatment plan pages over HTTP, in-process against the real
//! database, signed in with a session cookie: the notes a clinician has to sign and to cosign,
//! a patient's plan and its versions, a plan written, signed and revised through the forms, a
//! refused field shown next to itself, a stale draft, and the roles that get no editor.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::StatusCode;
use common::TestApp;
use common::web::{get, hidden, html, location, post, section, web_sign_in};
use uuid::Uuid;

/// The email of the user of a provider record.
async fn email_of_provider(app: &TestApp, provider_id: Uuid) -> String {
    sqlx::query_scalar(
        "select u.email::text from providers p join users u on u.org_id = p.org_id and u.id = p.user_id
          where p.id = $1",
    )
    .bind(provider_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn today_lists_the_notes_to_sign_and_to_cosign() {
    let app = TestApp::spawn().await;

    // A clinician with unsigned drafts sees each of them, linked to its note page.
    let author: Uuid = sqlx::query_scalar(
        "select author_provider_id from clinical_notes where status = 'draft'
          order by author_provider_id limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("the demo has unsigned drafts");
    let drafts: Vec<(Uuid, String)> = sqlx::query_as(
        "select n.id, p.mrn from clinical_notes n join patients p on p.org_id = n.org_id and p.id = n.patient_id
          where n.status = 'draft' and n.author_provider_id = $1",
    )
    .bind(author)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let cookie = web_sign_in(&app, &email_of_provider(&app, author).await).await;
    let today = app.send(get("/", &cookie)).await;
    assert_eq!(today.status, StatusCode::OK);
    let to_sign = section(html(&today), "notes-to-sign");
    assert_eq!(to_sign.matches("<li>").count(), drafts.len(), "{to_sign}");
    for (id, mrn) in &drafts {
        assert!(
            to_sign.contains(&format!(r#"href="/notes/{id}""#)),
            "{to_sign}"
        );
        assert!(to_sign.contains(mrn.as_str()));
    }
    // Another clinician's drafts are not theirs to sign.
    let others: Vec<Uuid> = sqlx::query_scalar(
        "select id from clinical_notes where status = 'draft' and author_provider_id <> $1",
    )
    .bind(author)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(!others.is_empty());
    for id in others {
        assert!(!html(&today).contains(&format!("/notes/{id}")));
    }

    // The supervisor of a pre-licensed clinician sees the supervisee's signed notes that still
    // wait for a cosignature, and not the ones already cosigned.
    let (supervisee, supervisor, supervisee_name): (Uuid, Uuid, String) = sqlx::query_as(
        "select id, supervisor_id, first_name || ' ' || last_name from providers
          where requires_supervision order by org_id limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("the demo has a supervised clinician");
    let waiting: Vec<Uuid> = sqlx::query_scalar(
        "select n.id from clinical_notes n
          where n.author_provider_id = $1 and n.status = 'signed'
            and not exists (select 1 from note_signatures s
                             where s.org_id = n.org_id and s.note_id = n.id and s.signature_type = 'supervisor')",
    )
    .bind(supervisee)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(
        !waiting.is_empty(),
        "the demo's latest notes await a cosignature"
    );
    let cosigned: Vec<Uuid> = sqlx::query_scalar(
        "select s.note_id from note_signatures s join clinical_notes n on n.org_id = s.org_id and n.id = s.note_id
          where n.author_provider_id = $1 and s.signature_type = 'supervisor'",
    )
    .bind(supervisee)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(!cosigned.is_empty());
    let supervisor_cookie = web_sign_in(&app, &email_of_provider(&app, supervisor).await).await;
    let today = app.send(get("/", &supervisor_cookie)).await;
    let to_cosign = section(html(&today), "notes-to-cosign");
    assert_eq!(
        to_cosign.matches("<li>").count(),
        waiting.len(),
        "{to_cosign}"
    );
    for id in &waiting {
        assert!(
            to_cosign.contains(&format!(r#"href="/notes/{id}""#)),
            "{to_cosign}"
        );
    }
    for id in &cosigned {
        assert!(!to_cosign.contains(&id.to_string()));
    }
    assert!(
        to_cosign.contains(&format!("signed by {supervisee_name}")),
        "{to_cosign}"
    );

    // The supervisee has nothing to cosign.
    let supervisee_cookie = web_sign_in(&app, &email_of_provider(&app, supervisee).await).await;
    let today = app.send(get("/", &supervisee_cookie)).await;
    assert!(
        section(html(&today), "notes-to-cosign").contains("No note waits for your cosignature")
    );
    app.close().await;
}

#[tokio::test]
async fn the_plan_page_shows_the_current_plan_and_its_versions() {
    let app = TestApp::spawn().await;
    // A plan revised once: version 2 is current and signed, version 1 superseded.
    let (patient, v1, v2, author, review_soon): (Uuid, Uuid, Uuid, Uuid, bool) = sqlx::query_as(
        "select t.patient_id, t.previous_version_id, t.id, t.provider_id,
                t.review_due_on <= current_date + 14
           from treatment_plans t
          where t.is_current and t.status = 'signed' and t.version = 2
          order by t.review_due_on limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("the demo has a revised plan");
    assert!(review_soon, "the demo has a plan coming due");
    let cookie = web_sign_in(&app, &email_of_provider(&app, author).await).await;
    let answer = app
        .send(get(&format!("/patients/{patient}/plan"), &cookie))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let page = html(&answer);
    let shown = section(page, "plan");
    assert!(shown.contains("Version 2"), "{shown}");
    assert!(shown.contains(r#"<span class="status status-signed">signed</span>"#));
    assert!(shown.contains(r#"id="review-due""#), "{shown}");
    for text in [
        "Reduce symptom severity",
        "GAD-7 or PHQ-9 below 10",
        "Practise one coping skill daily",
        "every other week",
    ] {
        assert!(shown.contains(text), "no {text} in {shown}");
    }
    let code: String = sqlx::query_scalar(
        "select content #>> '{problems,0,icd10_code}' from treatment_plans where id = $1",
    )
    .bind(v2)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(shown.contains(&code));
    assert!(page.contains(r#"id="revise-plan""#));
    let versions = section(page, "versions");
    assert!(versions.contains(&format!("?version={v1}")), "{versions}");
    assert!(versions.contains("superseded"));

    // The older version, as it was.
    let old = app
        .send(get(
            &format!("/patients/{patient}/plan?version={v1}"),
            &cookie,
        ))
        .await;
    let shown = section(html(&old), "plan");
    assert!(
        shown.contains("Version 1") && shown.contains("superseded"),
        "{shown}"
    );
    assert!(shown.contains("(weekly)") && !shown.contains("review-due"));

    // A plan whose review is months away is not marked.
    let later: Uuid = sqlx::query_scalar(
        "select patient_id from treatment_plans
          where is_current and status = 'signed' and review_due_on > current_date + 14 limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let org_admin: String = sqlx::query_scalar(
        "select u.email::text from users u join patients p on p.org_id = u.org_id
          where p.id = $1 and u.role = 'admin' limit 1",
    )
    .bind(later)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    // An admin reads plans, and gets no editor.
    let admin = web_sign_in(&app, &org_admin).await;
    let answer = app
        .send(get(&format!("/patients/{later}/plan"), &admin))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let page = html(&answer);
    assert!(
        page.contains("Version 2") && !page.contains("review-due"),
        "{page}"
    );
    assert!(!page.contains("revise-plan") && !page.contains("/plan/edit"));
    assert_eq!(
        app.send(get(&format!("/patients/{later}/plan/edit"), &admin))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Another practice's patient is not found.
    let foreign: Uuid = sqlx::query_scalar(
        "select p.id from patients p
          where p.org_id <> (select org_id from providers where id = $1) limit 1",
    )
    .bind(author)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    for path in [
        format!("/patients/{foreign}/plan"),
        format!("/patients/{foreign}/plan/edit"),
        "/patients/not-an-id/plan".to_owned(),
    ] {
        assert_eq!(
            app.send(get(&path, &cookie)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    app.close().await;
}

/// A patient of a provider's practice with an active diagnosis and no plan, and the provider's
/// email.
async fn patient_without_plan(app: &TestApp) -> (Uuid, String, String) {
    sqlx::query_as(
        "select p.id, d.icd10_code,
                (select u.email::text from providers pr join users u on u.org_id = pr.org_id and u.id = pr.user_id
                  where pr.org_id = p.org_id and not pr.requires_supervision order by u.email limit 1)
           from patients p join patient_diagnoses d on d.org_id = p.org_id and d.patient_id = p.id
          where d.status = 'active'
            and not exists (select 1 from treatment_plans t where t.org_id = p.org_id and t.patient_id = p.id)
          order by p.org_id, p.id limit 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("a patient without a plan")
}

async fn day(app: &TestApp, days_from_today: i32) -> String {
    sqlx::query_scalar("select (current_date + $1)::text")
        .bind(days_from_today)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_plan_is_written_signed_and_revised_through_the_forms() {
    let app = TestApp::spawn().await;
    let (patient, code, email) = patient_without_plan(&app).await;
    let cookie = web_sign_in(&app, &email).await;
    let plan_path = format!("/patients/{patient}/plan");
    let page = app.send(get(&plan_path, &cookie)).await;
    assert!(html(&page).contains(r#"id="new-plan""#), "{}", html(&page));

    let editor = app.send(get(&format!("{plan_path}/edit"), &cookie)).await;
    assert_eq!(editor.status, StatusCode::OK);
    let form = html(&editor);
    assert_eq!(hidden(form, "mode"), "new");
    assert!(
        form.contains(&format!(r#"<option value="{code}""#)),
        "{form}"
    );
    let token = hidden(form, "csrf_token");
    let target = day(&app, 30).await;
    let answer = app
        .send(post(
            &plan_path,
            &cookie,
            &[
                ("csrf_token", &token),
                ("mode", "new"),
                ("tag", ""),
                ("effective_on", ""),
                ("review_due_on", ""),
                ("problems[0].icd10_code", &code),
                ("problems[0].statement", "Client reports daily worry."),
                ("problems[0].goals[0].goal", "Worry less"),
                ("problems[0].goals[0].measure", "GAD-7 below 10"),
                (
                    "problems[0].goals[0].objectives[0].objective",
                    "Keep a worry log",
                ),
                ("problems[0].goals[0].objectives[0].target_date", &target),
                ("problems[0].goals[0].objectives[1].objective", ""),
                ("problems[0].goals[1].goal", ""),
                ("problems[0].interventions[0].intervention", "CBT"),
                ("problems[0].interventions[0].frequency", "weekly"),
                ("problems[1].icd10_code", ""),
                ("problems[1].statement", ""),
            ],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", html(&answer));
    assert_eq!(location(&answer), format!("{plan_path}?saved=1"));
    let (draft, goals, status): (Uuid, i32, String) = sqlx::query_as(
        "select id, jsonb_array_length(content #> '{problems,0,goals}'), status::text
           from treatment_plans where patient_id = $1",
    )
    .bind(patient)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (goals, status.as_str()),
        (1, "draft"),
        "empty rows are left out"
    );

    let page = app
        .send(get(&format!("{plan_path}?saved=1"), &cookie))
        .await;
    let body = html(&page);
    assert!(body.contains("Draft saved."));
    assert!(body.contains(r#"id="edit-draft""#) && body.contains(r#"id="sign-plan""#));
    assert!(body.contains("Keep a worry log") && body.contains(&target));

    // A save from a form read before someone else's change is refused, the typed values kept.
    let editor = app.send(get(&format!("{plan_path}/edit"), &cookie)).await;
    let form = html(&editor);
    assert_eq!(hidden(form, "mode"), "edit");
    assert_eq!(hidden(form, "plan_id"), draft.to_string());
    let fresh_tag = hidden(form, "tag");
    let edit_fields = |tag: &str, statement: &str| {
        vec![
            ("mode", "edit".to_owned()),
            ("plan_id", draft.to_string()),
            ("tag", tag.to_owned()),
            ("problems[0].icd10_code", code.clone()),
            ("problems[0].statement", statement.to_owned()),
            ("problems[0].goals[0].goal", "Worry less".to_owned()),
            ("problems[0].goals[0].measure", "GAD-7 below 10".to_owned()),
            (
                "problems[0].goals[0].objectives[0].objective",
                "Keep a worry log".to_owned(),
            ),
            (
                "problems[0].goals[0].objectives[0].target_date",
                target.clone(),
            ),
            (
                "problems[0].interventions[0].intervention",
                "CBT".to_owned(),
            ),
            (
                "problems[0].interventions[0].frequency",
                "weekly".to_owned(),
            ),
        ]
    };
    let send_edit = |fields: Vec<(&'static str, String)>| {
        let mut all = vec![("csrf_token", token.clone())];
        all.extend(fields);
        let pairs: Vec<(&str, &str)> = all.iter().map(|(n, v)| (*n, v.as_str())).collect();
        post(&plan_path, &cookie, &pairs)
    };
    let stale = app
        .send(send_edit(edit_fields(
            "0123456789abcdef0123456789abcdef",
            "Typed, not saved",
        )))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let body = html(&stale);
    assert!(body.contains("changed by someone else"), "{body}");
    assert!(body.contains(r#"value="Typed, not saved""#), "{body}");
    // Its tag is renewed: saving again goes through.
    assert_eq!(hidden(body, "tag"), fresh_tag);

    let saved = app
        .send(send_edit(edit_fields(
            &fresh_tag,
            "Client reports worry most days.",
        )))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", html(&saved));

    // Sign the draft the page shows.
    let page = app.send(get(&plan_path, &cookie)).await;
    let body = html(&page);
    assert!(body.contains("Client reports worry most days."));
    let sign_form = &body[body.find(r#"id="sign-plan""#).unwrap()..];
    let signed = app
        .send(post(
            &format!("{plan_path}/sign"),
            &cookie,
            &[
                ("csrf_token", &token),
                ("plan_id", &hidden(sign_form, "plan_id")),
                ("tag", &hidden(sign_form, "tag")),
            ],
        ))
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", html(&signed));
    assert_eq!(location(&signed), format!("{plan_path}?signed=1"));
    let status: String =
        sqlx::query_scalar("select status::text from treatment_plans where id = $1")
            .bind(draft)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "signed");

    // Revise: the editor starts from the signed plan, and saving makes version 2 a draft.
    let page = app.send(get(&plan_path, &cookie)).await;
    assert!(html(&page).contains(r#"id="revise-plan""#));
    assert!(!html(&page).contains(r#"id="sign-plan""#));
    let editor = app.send(get(&format!("{plan_path}/edit"), &cookie)).await;
    let form = html(&editor);
    assert_eq!(hidden(form, "mode"), "revise");
    assert!(
        form.contains(r#"value="Client reports worry most days.""#),
        "{form}"
    );
    let revised = app
        .send(post(
            &plan_path,
            &cookie,
            &[
                ("csrf_token", &token),
                ("mode", "revise"),
                ("plan_id", &hidden(form, "plan_id")),
                ("tag", ""),
                ("problems[0].icd10_code", &code),
                ("problems[0].statement", "Client reports worry most days."),
                ("problems[0].goals[0].goal", "Worry less"),
                ("problems[0].goals[0].measure", "GAD-7 below 10"),
                (
                    "problems[0].goals[0].objectives[0].objective",
                    "Keep a worry log",
                ),
                ("problems[0].goals[0].objectives[0].target_date", &target),
                ("problems[0].interventions[0].intervention", "CBT"),
                ("problems[0].interventions[0].frequency", "every other week"),
            ],
        ))
        .await;
    assert_eq!(revised.status, StatusCode::SEE_OTHER, "{}", html(&revised));
    let versions: Vec<(i32, String)> = sqlx::query_as(
        "select version, status::text from treatment_plans where patient_id = $1 order by version",
    )
    .bind(patient)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        versions,
        [(1, "superseded".to_owned()), (2, "draft".to_owned())]
    );
    let page = app.send(get(&plan_path, &cookie)).await;
    let body = html(&page);
    assert!(body.contains("Version 2") && body.contains("every other week"));
    assert!(body.contains(r#"id="edit-draft""#));
    app.close().await;
}

#[tokio::test]
async fn a_refused_field_is_shown_next_to_itself() {
    let app = TestApp::spawn().await;
    let (patient, code, email) = patient_without_plan(&app).await;
    let cookie = web_sign_in(&app, &email).await;
    let plan_path = format!("/patients/{patient}/plan");
    let token = hidden(
        html(&app.send(get(&format!("{plan_path}/edit"), &cookie)).await),
        "csrf_token",
    );
    // The second objective row is filled, the first left empty: the API's path
    // (objectives[0]) is the form's second row.
    let answer = app
        .send(post(
            &plan_path,
            &cookie,
            &[
                ("csrf_token", &token),
                ("mode", "new"),
                ("problems[0].icd10_code", &code),
                ("problems[0].statement", "Client reports daily worry."),
                ("problems[0].goals[0].goal", "Worry less"),
                ("problems[0].goals[0].measure", "  "),
                (
                    "problems[0].goals[0].objectives[1].objective",
                    "Keep a worry log",
                ),
                ("problems[0].goals[0].objectives[1].target_date", "soon"),
                ("problems[0].interventions[0].intervention", "CBT"),
                ("problems[0].interventions[0].frequency", "weekly"),
            ],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = html(&answer);
    let date = "problems[0].goals[0].objectives[1].target_date";
    assert!(
        body.contains(&format!(
            r#"<p class="field-error" id="{date}-error">not a date"#
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        r#"name="{date}" type="date" value="soon" aria-invalid="true" aria-describedby="{date}-error""#
    )));
    assert!(body.contains(
        r#"<p class="field-error" id="problems[0].goals[0].measure-error">must not be blank"#
    ));
    // The other fields are not marked, and the typed values are kept.
    assert!(!body.contains(r#"id="problems[0].statement-error""#));
    assert!(body.contains(r#"value="Client reports daily worry.""#));
    let plans: i64 =
        sqlx::query_scalar("select count(*) from treatment_plans where patient_id = $1")
            .bind(patient)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(plans, 0);
    app.close().await;
}

#[tokio::test]
async fn billing_and_the_front_desk_get_no_plan_editor() {
    let app = TestApp::spawn().await;
    let (patient, code, provider_email) = patient_without_plan(&app).await;
    let org_of = |role: &'static str| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select u.email::text from users u join patients p on p.org_id = u.org_id
                  where p.id = $1 and u.role = $2::user_role order by u.email limit 1",
            )
            .bind(patient)
            .bind(role)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let target = day(&app, 30).await;
    for role in ["billing", "staff"] {
        let cookie = web_sign_in(&app, &org_of(role).await).await;
        for path in [
            format!("/patients/{patient}/plan"),
            format!("/patients/{patient}/plan/edit"),
        ] {
            assert_eq!(
                app.send(get(&path, &cookie)).await.status,
                StatusCode::FORBIDDEN,
                "{role} {path}"
            );
        }
        // Posting the form anyway is refused by the database's policies.
        let token = hidden(html(&app.send(get("/", &cookie)).await), "csrf_token");
        let answer = app
            .send(post(
                &format!("/patients/{patient}/plan"),
                &cookie,
                &[
                    ("csrf_token", &token),
                    ("mode", "new"),
                    ("problems[0].icd10_code", &code),
                    ("problems[0].statement", "Client reports daily worry."),
                    ("problems[0].goals[0].goal", "Worry less"),
                    ("problems[0].goals[0].measure", "GAD-7 below 10"),
                    (
                        "problems[0].goals[0].objectives[0].objective",
                        "Keep a worry log",
                    ),
                    ("problems[0].goals[0].objectives[0].target_date", &target),
                    ("problems[0].interventions[0].intervention", "CBT"),
                    ("problems[0].interventions[0].frequency", "weekly"),
                ],
            ))
            .await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&answer.status),
            "{role}: {}",
            answer.status
        );
    }
    let plans: i64 =
        sqlx::query_scalar("select count(*) from treatment_plans where patient_id = $1")
            .bind(patient)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(plans, 0);
    // The same form from a clinician goes through (so the refusals above are about the role).
    let cookie = web_sign_in(&app, &provider_email).await;
    let token = hidden(html(&app.send(get("/", &cookie)).await), "csrf_token");
    let answer = app
        .send(post(
            &format!("/patients/{patient}/plan"),
            &cookie,
            &[
                ("csrf_token", &token),
                ("mode", "new"),
                ("problems[0].icd10_code", &code),
                ("problems[0].statement", "Client reports daily worry."),
                ("problems[0].goals[0].goal", "Worry less"),
                ("problems[0].goals[0].measure", "GAD-7 below 10"),
                (
                    "problems[0].goals[0].objectives[0].objective",
                    "Keep a worry log",
                ),
                ("problems[0].goals[0].objectives[0].target_date", &target),
                ("problems[0].interventions[0].intervention", "CBT"),
                ("problems[0].interventions[0].frequency", "weekly"),
            ],
        ))
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", html(&answer));
    app.close().await;
}
