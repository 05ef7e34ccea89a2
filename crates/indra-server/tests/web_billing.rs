//! The billing pages over HTTP, in-process against the real database, signed in with a session
//! cookie: the workbench's claims by status with the scrubber's findings, claims made from a
//! signed session, a draft edited until the scrubber passes, marked ready and exported as an
//! 837P download; the roles that do not work claims; a patient's insurance on the chart with
//! its usage meter, added, changed and ended through the forms; a remittance reviewed, then
//! posted.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::{StatusCode, header};
use common::TestApp;
use common::web::{get, hidden, html, location, post, section, web_sign_in};
use uuid::Uuid;

async fn org_of(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar("select org_id from users where email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// A biller of the first practice, signed in: (cookie, CSRF token, org id).
async fn biller(app: &TestApp) -> (String, String, Uuid) {
    let email = app.email_of(0, "billing").await;
    let cookie = web_sign_in(app, &email).await;
    let page = app.send(get("/billing", &cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", html(&page));
    let csrf = hidden(html(&page), "csrf_token");
    (cookie, csrf, org_of(app, &email).await)
}

/// A completed, signed session of an insured patient that no claim bills yet.
async fn unbilled_signed_session(app: &TestApp, org: Uuid) -> Uuid {
    sqlx::query_scalar(
        "select e.id from encounters e
          where e.org_id = $1 and e.status = 'completed'
            and exists (select 1 from clinical_notes n
                         where n.encounter_id = e.id and n.is_current and n.status = 'signed')
            and exists (select 1 from patient_insurance i
                         where i.patient_id = e.patient_id and i.is_active and i.priority = 'primary')
            and not exists (select 1 from claim_line_items l join billing_claims c on c.id = l.claim_id
                             where l.encounter_id = e.id and c.status <> 'voided')
            and not exists (select 1 from providers p
                             where p.id = e.provider_id and p.requires_supervision)
          order by e.started_at desc limit 1",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .expect("the demo leaves signed sessions without a claim")
}

/// The editor's form for a claim as it is stored, with `change` applied to its first line.
async fn claim_form(
    app: &TestApp,
    claim: Uuid,
    csrf: &str,
    tag: &str,
    change: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut fields = vec![
        ("csrf_token".to_owned(), csrf.to_owned()),
        ("tag".to_owned(), tag.to_owned()),
    ];
    let (place, prior): (String, Option<String>) = sqlx::query_as(
        "select place_of_service, prior_authorization_number from billing_claims where id = $1",
    )
    .bind(claim)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    fields.push(("place_of_service".into(), place));
    fields.push((
        "prior_authorization_number".into(),
        prior.unwrap_or_default(),
    ));
    let codes: Vec<String> = sqlx::query_scalar(
        "select icd10_code from claim_diagnoses where claim_id = $1 order by sequence",
    )
    .bind(claim)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    for (slot, code) in codes.iter().enumerate() {
        fields.push((format!("dx{slot}"), code.clone()));
    }
    type Line = (
        Uuid,
        String,
        Vec<String>,
        i16,
        String,
        time::Date,
        Option<String>,
        Vec<i32>,
    );
    let lines: Vec<Line> = sqlx::query_as(
        "select encounter_id, cpt_code, modifiers, units, charge::text, service_date, place_of_service,
                diagnosis_pointers
           from claim_line_items where claim_id = $1 order by line_number",
    )
    .bind(claim)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    for (row, (encounter, cpt, modifiers, units, charge, date, place, pointers)) in
        lines.into_iter().enumerate()
    {
        let letters: Vec<String> = pointers
            .iter()
            .map(|p| char::from(b'A' + u8::try_from(*p).unwrap() - 1).to_string())
            .collect();
        for (name, value) in [
            ("encounter_id", encounter.to_string()),
            ("cpt_code", cpt),
            ("modifiers", modifiers.join(",")),
            ("units", units.to_string()),
            ("charge", charge),
            ("service_date", date.to_string()),
            ("place_of_service", place.unwrap_or_default()),
            ("pointers", letters.join(",")),
        ] {
            let value = change
                .iter()
                .find(|(n, _)| row == 0 && *n == name)
                .map_or(value, |(_, v)| (*v).to_owned());
            fields.push((format!("line{row}.{name}"), value));
        }
    }
    fields
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

async fn claim_status(app: &TestApp, claim: Uuid) -> String {
    sqlx::query_scalar("select status::text from billing_claims where id = $1")
        .bind(claim)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_workbench_lists_the_claims_by_status_with_the_scrubbers_findings() {
    let app = TestApp::spawn().await;
    let (cookie, _, org) = biller(&app).await;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "select status::text, count(*) from billing_claims where org_id = $1 group by status",
    )
    .bind(org)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(
        counts.len() >= 5,
        "the demo's claims are in several states: {counts:?}"
    );
    let page = app.send(get("/billing", &cookie)).await;
    let tabs = html(&page);
    for (status, count) in &counts {
        let tab = format!(r#"id="tab-{status}""#);
        let at = tabs.find(&tab).unwrap_or_else(|| panic!("no {status} tab"));
        let end = at + tabs[at..].find("</a>").unwrap();
        assert!(
            tabs[at..end].contains(&format!(r#"<span class="count">{count}</span>"#)),
            "{status}: {}",
            &tabs[at..end]
        );
    }
    // Each tab lists its claims (the demo's are fewer than a page) and no other.
    for (status, count) in &counts {
        let numbers: Vec<String> = sqlx::query_scalar(
            "select claim_number from billing_claims where org_id = $1 and status::text = $2",
        )
        .bind(org)
        .bind(status)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
        let page = app
            .send(get(&format!("/billing?status={status}"), &cookie))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let claims = section(html(&page), "claims");
        assert_eq!(
            claims.matches(r#"<tr id="claim-"#).count(),
            usize::try_from(*count).unwrap(),
            "{status}"
        );
        for number in numbers {
            assert!(
                claims.contains(&format!(r#"id="claim-{number}""#)),
                "{number}"
            );
        }
    }
    // The demo's drafts bill sessions whose notes are not signed yet: the scrubber says so,
    // in red, beside each of them.
    let drafts = app.send(get("/billing?status=draft", &cookie)).await;
    let claims = section(html(&drafts), "claims");
    assert!(
        claims.contains(r#"class="finding finding-error""#),
        "{claims}"
    );
    assert!(claims.to_lowercase().contains("signed"), "{claims}");
    // The ready tab offers the export; the others do not.
    let ready = app.send(get("/billing?status=ready", &cookie)).await;
    assert!(html(&ready).contains(r#"id="export-button""#));
    assert!(!html(&drafts).contains(r#"id="export-button""#));
    // Past exports can be downloaded again, exactly as sent.
    let (export, content): (Uuid, String) = sqlx::query_as(
        "select id, content from claim_exports where org_id = $1 order by created_at limit 1",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(html(&drafts).contains(&format!(r#"href="/billing/exports/{export}""#)));
    let again = app
        .send(get(&format!("/billing/exports/{export}"), &cookie))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers[header::CONTENT_TYPE], "application/edi-x12");
    assert_eq!(again.body.as_str().unwrap(), content);
    app.close().await;
}

#[tokio::test]
async fn a_biller_bills_a_signed_session_fixes_the_draft_and_exports_it() {
    let app = TestApp::spawn().await;
    let (cookie, csrf, org) = biller(&app).await;
    let session = unbilled_signed_session(&app, org).await;
    let page = app.send(get("/billing", &cookie)).await;
    assert!(
        section(html(&page), "unbilled").contains(&format!(r#"value="{session}""#)),
        "the session is offered"
    );

    // Nothing ticked: said, nothing created.
    let none = app
        .send(post("/billing/claims", &cookie, &[("csrf_token", &csrf)]))
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&none).contains("Tick at least one session"));

    // The session and one that is not the practice's.
    let unfinished = Uuid::new_v4();
    let created = app
        .send(post(
            "/billing/claims",
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("encounter_id", &session.to_string()),
                ("encounter_id", &unfinished.to_string()),
            ],
        ))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", html(&created));
    let result = section(html(&created), "batch-result");
    assert!(result.contains("Created 1 draft claim"), "{result}");
    assert!(
        section(html(&created), "batch-result").contains("no such session"),
        "{result}"
    );
    let claim: Uuid = sqlx::query_scalar(
        "select c.id from billing_claims c join claim_line_items l on l.claim_id = c.id
          where l.encounter_id = $1",
    )
    .bind(session)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(result.contains(&format!("/billing/claims/{claim}")));
    assert_eq!(claim_status(&app, claim).await, "draft");

    // The editor: header, diagnoses A-L, the lines with their pointers as letters.
    let editor = app
        .send(get(&format!("/billing/claims/{claim}"), &cookie))
        .await;
    assert_eq!(editor.status, StatusCode::OK, "{}", html(&editor));
    let form = html(&editor);
    assert!(form.contains(r#"<select id="dx0" name="dx0""#));
    assert!(form.contains(r#"<select id="dx11" name="dx11""#));
    assert!(form.contains(r#"name="line0.pointers""#));
    let tag = hidden(form, "tag");

    // A value the API refuses (units that are no number) is shown beside its field; what was
    // typed is kept.
    let fields = claim_form(
        &app,
        claim,
        &csrf,
        &tag,
        &[("units", "two"), ("modifiers", "HO")],
    )
    .await;
    let refused = app
        .send(post(
            &format!("/billing/claims/{claim}"),
            &cookie,
            &pairs(&fields),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = html(&refused);
    assert!(page.contains("correct the fields marked below"), "{page}");
    assert!(page.contains(r#"value="two""#), "{page}");
    assert!(page.contains(r#"value="HO""#));
    assert!(page.contains("a whole number of units"));

    // A charge of 0 is saved, and the scrubber holds the claim for it, beside the charge.
    let fields = claim_form(&app, claim, &csrf, &tag, &[("charge", "0.00")]).await;
    let saved = app
        .send(post(
            &format!("/billing/claims/{claim}"),
            &cookie,
            &pairs(&fields),
        ))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", html(&saved));
    assert_eq!(location(&saved), format!("/billing/claims/{claim}?saved=1"));
    let editor = app
        .send(get(&format!("/billing/claims/{claim}"), &cookie))
        .await;
    let page = html(&editor);
    let charge_cell = &page[page.find(r#"id="line0-charge""#).unwrap()..];
    let charge_cell = &charge_cell[..charge_cell.find("</td>").unwrap()];
    assert!(
        charge_cell.contains("finding-error") && charge_cell.contains("charge is $0.00"),
        "{charge_cell}"
    );
    let tag = hidden(page, "tag");
    let refused = app
        .send(post(
            &format!("/billing/claims/{claim}/ready"),
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag)],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&refused).contains("Not ready: the scrubber found 1 problem"));
    assert_eq!(claim_status(&app, claim).await, "draft");

    // The fee back, then ready.
    let fields = claim_form(&app, claim, &csrf, &tag, &[("charge", "135.00")]).await;
    let saved = app
        .send(post(
            &format!("/billing/claims/{claim}"),
            &cookie,
            &pairs(&fields),
        ))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", html(&saved));
    let editor = app
        .send(get(&format!("/billing/claims/{claim}"), &cookie))
        .await;
    assert!(
        !html(&editor).contains("finding-error"),
        "{}",
        html(&editor)
    );
    let tag = hidden(html(&editor), "tag");
    let ready = app
        .send(post(
            &format!("/billing/claims/{claim}/ready"),
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag)],
        ))
        .await;
    assert_eq!(ready.status, StatusCode::SEE_OTHER, "{}", html(&ready));
    assert_eq!(claim_status(&app, claim).await, "ready");
    let ready_tab = app.send(get("/billing?status=ready", &cookie)).await;
    assert!(html(&ready_tab).contains(&format!(r#"name="claim_id" value="{claim}""#)));

    // Exported: the 837P is the answer, downloaded, and the claim is submitted.
    let exported = app
        .send(post(
            "/billing/exports",
            &cookie,
            &[("csrf_token", &csrf), ("claim_id", &claim.to_string())],
        ))
        .await;
    assert_eq!(exported.status, StatusCode::OK, "{:?}", exported.body);
    assert_eq!(
        exported.headers[header::CONTENT_TYPE],
        "application/edi-x12"
    );
    assert!(
        exported.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename="),
    );
    let file = exported.body.as_str().unwrap();
    assert!(file.starts_with("ISA*"), "{file}");
    assert!(file.contains("ST*837*"));
    let number: String =
        sqlx::query_scalar("select claim_number from billing_claims where id = $1")
            .bind(claim)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(file.contains(&format!("CLM*{number}*")), "{file}");
    assert_eq!(claim_status(&app, claim).await, "submitted");

    // Exporting it again is refused on the page: it is no longer ready.
    let again = app
        .send(post(
            "/billing/exports",
            &cookie,
            &[("csrf_token", &csrf), ("claim_id", &claim.to_string())],
        ))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", html(&again));
    assert!(html(&again).contains(r#"id="form-error""#));

    // The CMS-1500 prints on both papers.
    for paper in ["plain", "red"] {
        let pdf = app
            .send(get(
                &format!("/billing/claims/{claim}/cms1500.pdf?paper={paper}"),
                &cookie,
            ))
            .await;
        assert_eq!(pdf.status, StatusCode::OK);
        assert_eq!(pdf.headers[header::CONTENT_TYPE], "application/pdf");
    }

    // A submitted claim is voided with a reason; without one the form says so and stays open.
    let no_reason = app
        .send(post(
            &format!("/billing/claims/{claim}/void"),
            &cookie,
            &[("csrf_token", &csrf), ("reason", " ")],
        ))
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&no_reason).contains(r#"id="void-error""#));
    let voided = app
        .send(post(
            &format!("/billing/claims/{claim}/void"),
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("reason", "Billed to the wrong payer"),
            ],
        ))
        .await;
    assert_eq!(voided.status, StatusCode::SEE_OTHER, "{}", html(&voided));
    assert_eq!(claim_status(&app, claim).await, "voided");
    app.close().await;
}

#[tokio::test]
async fn providers_and_the_front_desk_do_not_work_claims() {
    let app = TestApp::spawn().await;
    let claim: Uuid = sqlx::query_scalar("select id from billing_claims limit 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    for role in ["provider", "staff"] {
        let cookie = web_sign_in(&app, &app.email_of(0, role).await).await;
        let today = app.send(get("/", &cookie)).await;
        assert!(
            !html(&today).contains(r#"href="/billing""#),
            "{role} sees the Billing link"
        );
        let csrf = hidden(html(&today), "csrf_token");
        for path in [
            "/billing".to_owned(),
            format!("/billing/claims/{claim}"),
            "/billing/remittances".to_owned(),
        ] {
            let page = app.send(get(&path, &cookie)).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role} {path}");
            assert!(html(&page).contains("billers and admins"));
        }
        let exported = app
            .send(post(
                "/billing/exports",
                &cookie,
                &[("csrf_token", &csrf), ("claim_id", &claim.to_string())],
            ))
            .await;
        assert_eq!(exported.status, StatusCode::FORBIDDEN, "{role}");
    }
    // A form without the session's token changes nothing, even for a biller.
    let (cookie, _, _) = biller(&app).await;
    let forged = app
        .send(post(
            "/billing/exports",
            &cookie,
            &[("csrf_token", "forged"), ("claim_id", &claim.to_string())],
        ))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let admin = web_sign_in(&app, &app.email_of(0, "admin").await).await;
    for cookie in [&cookie, &admin] {
        let today = app.send(get("/", cookie)).await;
        assert!(html(&today).contains(r#"<a href="/billing">Billing</a>"#));
    }
    app.close().await;
}

#[tokio::test]
async fn a_remittance_is_reviewed_before_it_is_posted_and_posting_it_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let (cookie, csrf, org) = biller(&app).await;
    let (trace, content): (String, String) = sqlx::query_as(
        "select trace_number, content from remittances where org_id = $1 order by created_at limit 1",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .expect("the demo posted a remittance");
    let page = app.send(get("/billing/remittances", &cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(section(html(&page), "posted").contains(&trace));

    // Not an 835: said beside the form, which keeps what was pasted.
    let refused = app
        .send(post(
            "/billing/remittances/preview",
            &cookie,
            &[("csrf_token", &csrf), ("file", "not an 835 at all")],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&refused).contains(r#"id="form-error""#));
    assert!(html(&refused).contains("not an 835 at all</textarea>"));

    // The review shows each claim it pays, whether it balances, and offers to post.
    let statuses = || async {
        sqlx::query_as::<_, (String, String)>(
            "select claim_number, status::text from billing_claims where org_id = $1 order by 1",
        )
        .bind(org)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
    };
    let before = statuses().await;
    let review = app
        .send(post(
            "/billing/remittances/preview",
            &cookie,
            &[("csrf_token", &csrf), ("file", &content)],
        ))
        .await;
    assert_eq!(review.status, StatusCode::OK, "{}", html(&review));
    let shown = section(html(&review), "remittance-review");
    assert!(shown.contains("Review before posting"));
    assert!(shown.contains(r#"id="balance-check""#));
    assert!(shown.contains("Posted before"), "{shown}");
    assert!(shown.contains(r#"href="/billing/claims/"#), "{shown}");
    assert!(shown.contains(r#"id="post-remittance""#));

    // Posted again: the same payment changes nothing.
    let posted = app
        .send(post(
            "/billing/remittances",
            &cookie,
            &[("csrf_token", &csrf), ("file", &content)],
        ))
        .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", html(&posted));
    assert!(html(&posted).contains("Remittance posted"));
    assert!(html(&posted).contains("Posted before"));
    assert_eq!(statuses().await, before);
    let count: i64 = sqlx::query_scalar("select count(*) from remittances where org_id = $1")
        .bind(org)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    app.close().await;
}

#[tokio::test]
async fn the_chart_shows_insurance_with_its_meter_and_the_front_desk_keeps_it() {
    let app = TestApp::spawn().await;
    let front_desk_email = app.email_of(0, "staff").await;
    let org = org_of(&app, &front_desk_email).await;
    let (patient, coverage, used, authorized): (Uuid, Uuid, i32, i32) = sqlx::query_as(
        "select patient_id, id, sessions_used, authorized_sessions from patient_insurance
          where org_id = $1 and is_active and authorized_sessions is not null
          order by sessions_used desc limit 1",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .expect("the demo has authorizations");
    assert!(used > 0, "the demo's exports counted sessions");

    // A clinician reads the coverage and the meter, and gets no form.
    let provider = web_sign_in(&app, &app.email_of(0, "provider").await).await;
    let chart = app
        .send(get(&format!("/patients/{patient}"), &provider))
        .await;
    let insurance = section(html(&chart), "insurance");
    assert!(
        insurance.contains(&format!("{used} of {authorized} sessions used")),
        "{insurance}"
    );
    assert!(insurance.contains("<meter"));
    let page = app
        .send(get(&format!("/patients/{patient}/insurance"), &provider))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!html(&page).contains(r#"id="new-form""#));

    // The front desk authorizes exactly the sessions used: the meter turns red.
    let cookie = web_sign_in(&app, &front_desk_email).await;
    let page = app
        .send(get(&format!("/patients/{patient}/insurance"), &cookie))
        .await;
    let form = html(&page);
    assert!(form.contains(r#"id="new-form""#));
    let key = format!("edit-{coverage}");
    let start = form.find(&format!(r#"id="{key}-form""#)).unwrap();
    let edit = &form[start..start + form[start..].find("</form>").unwrap()];
    let csrf = hidden(edit, "csrf_token");
    let tag = hidden(edit, "tag");
    let value = |name: &str| {
        let marker = format!(r#"name="{name}" type="#);
        let at = edit.find(&marker).unwrap_or_else(|| panic!("no {name}"));
        let rest = &edit[at..];
        let v = &rest[rest.find(r#"value=""#).unwrap() + 7..];
        v[..v.find('"').unwrap()].to_owned()
    };
    let selected = |name: &str| {
        let at = edit.find(&format!(r#"name="{name}""#)).unwrap();
        let rest = &edit[at..];
        let rest = &rest[..rest.find("</select>").unwrap()];
        let s = &rest[..rest.find(" selected").unwrap()];
        let v = &s[s.rfind(r#"value=""#).unwrap() + 7..];
        v[..v.find('"').unwrap()].to_owned()
    };
    let mut fields: Vec<(String, String)> = vec![
        ("csrf_token".into(), csrf.clone()),
        ("tag".into(), tag),
        ("insurance_payer_id".into(), selected("insurance_payer_id")),
        ("priority".into(), selected("priority")),
        (
            "subscriber_relationship".into(),
            selected("subscriber_relationship"),
        ),
        (
            "authorization.cpt_codes".into(),
            value("authorization.cpt_codes"),
        ),
    ];
    for name in [
        "member_id",
        "group_number",
        "subscriber_first_name",
        "subscriber_last_name",
        "subscriber_date_of_birth",
        "effective_from",
        "effective_to",
        "authorization.number",
        "authorization.start_on",
        "authorization.end_on",
    ] {
        fields.push((name.into(), value(name)));
    }
    // Fewer sessions than were used: refused beside the field, the typed number kept.
    let mut too_few = fields.clone();
    too_few.push((
        "authorization.authorized_sessions".into(),
        (used - 1).to_string(),
    ));
    let refused = app
        .send(post(
            &format!("/patients/{patient}/insurance/{coverage}"),
            &cookie,
            &pairs(&too_few),
        ))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        html(&refused)
    );
    let page = html(&refused);
    assert!(page.contains("were already used"), "{page}");
    assert!(page.contains(&format!(r#"value="{}""#, used - 1)));
    let mut exact = fields.clone();
    exact.push(("authorization.authorized_sessions".into(), used.to_string()));
    let saved = app
        .send(post(
            &format!("/patients/{patient}/insurance/{coverage}"),
            &cookie,
            &pairs(&exact),
        ))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", html(&saved));
    let chart = app
        .send(get(&format!("/patients/{patient}"), &cookie))
        .await;
    let insurance = section(html(&chart), "insurance");
    assert!(insurance.contains("usage usage-exhausted"), "{insurance}");
    assert!(insurance.contains(&format!("{used} of {used} sessions used")));

    // New coverage for a self-pay patient: a missing member id is said, the rest kept.
    let uninsured: Uuid = sqlx::query_scalar(
        "select p.id from patients p where p.org_id = $1
            and not exists (select 1 from patient_insurance i where i.patient_id = p.id)
          order by p.mrn limit 1",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let payer: Uuid = sqlx::query_scalar(
        "select id from insurance_payers where org_id = $1 and is_active limit 1",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let payer = payer.to_string();
    let mut new = vec![
        ("csrf_token", csrf.as_str()),
        ("insurance_payer_id", payer.as_str()),
        ("priority", "primary"),
        ("subscriber_relationship", "self"),
        ("member_id", ""),
        ("group_number", "GRP-77"),
        ("effective_from", "2026-01-01"),
        ("authorization.number", "AUTH-9"),
        ("authorization.authorized_sessions", "12"),
    ];
    let refused = app
        .send(post(
            &format!("/patients/{uninsured}/insurance"),
            &cookie,
            &new,
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = html(&refused);
    assert!(page.contains(r#"id="new-member_id" name="member_id" type="text" autocomplete="off" value="" aria-invalid="true""#), "{page}");
    assert!(page.contains(r#"value="GRP-77""#));
    new[4] = ("member_id", "M-123456");
    let added = app
        .send(post(
            &format!("/patients/{uninsured}/insurance"),
            &cookie,
            &new,
        ))
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", html(&added));
    let chart = app
        .send(get(&format!("/patients/{uninsured}"), &cookie))
        .await;
    let insurance = section(html(&chart), "insurance");
    assert!(insurance.contains("M-123456"), "{insurance}");
    assert!(insurance.contains("0 of 12 sessions used"));
    assert!(insurance.contains("usage usage-ok"));

    // Ended: no longer on the chart.
    let added_id: Uuid =
        sqlx::query_scalar("select id from patient_insurance where patient_id = $1")
            .bind(uninsured)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let ended = app
        .send(post(
            &format!("/patients/{uninsured}/insurance/{added_id}/end"),
            &cookie,
            &[("csrf_token", &csrf), ("ended_on", "")],
        ))
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", html(&ended));
    let chart = app
        .send(get(&format!("/patients/{uninsured}"), &cookie))
        .await;
    assert!(section(html(&chart), "insurance").contains("No active coverage"));
    app.close().await;
}
