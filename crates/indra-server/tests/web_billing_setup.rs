//! The billing set-up pages over HTTP, in-process against the real database, signed in with a
//! session cookie: a biller adds a payer (a refused one keeps what was typed, its errors beside
//! the fields), changes it, deactivates and reactivates it; sets and changes the practice's
//! charges on the fee schedule; providers read both and change neither; the workbench and the
//! remittances page list what was sent and posted newest first.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::StatusCode;
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

/// A user of the first practice with `role`, signed in: (cookie, CSRF token, org id).
async fn signed_in(app: &TestApp, role: &str) -> (String, String, Uuid) {
    let email = app.email_of(0, role).await;
    let cookie = web_sign_in(app, &email).await;
    let page = app.send(get("/billing/payers", &cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{role}: {}", html(&page));
    let csrf = hidden(html(&page), "csrf_token");
    (cookie, csrf, org_of(app, &email).await)
}

/// The text of the element with `id`, up to the end of its line of markup.
fn element<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no {id} in {page}"));
    let end = page[start..].find('\n').unwrap_or(page.len() - start);
    &page[start..start + end]
}

/// The `value` of the input with `id`.
fn input_value(page: &str, id: &str) -> String {
    let input = element(page, id);
    let start = input.find(r#"value=""#).unwrap() + 7;
    input[start..][..input[start..].find('"').unwrap()].to_owned()
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

type PayerRow = (
    String,
    String,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

async fn payer_row(app: &TestApp, id: Uuid) -> PayerRow {
    sqlx::query_as(
        "select name, payer_id, requires_prior_authorization, address_line1, city, state,
                postal_code, phone, is_active
           from insurance_payers where id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn payers_with_id(app: &TestApp, org: Uuid, payer_id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from insurance_payers where org_id = $1 and payer_id = $2")
        .bind(org)
        .bind(payer_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_biller_adds_changes_deactivates_and_reactivates_a_payer() {
    let app = TestApp::spawn().await;
    let (cookie, csrf, org) = signed_in(&app, "billing").await;

    // The workbench leads to the payers and the fee schedule.
    let workbench = app.send(get("/billing", &cookie)).await;
    for link in [r#"href="/billing/payers""#, r#"href="/billing/fees""#] {
        assert!(html(&workbench).contains(link), "{link}");
    }
    let list = app.send(get("/billing/payers", &cookie)).await;
    assert!(
        html(&list).contains(r#"<a href="/billing/payers" aria-current="page">Payers</a>"#),
        "{}",
        html(&list)
    );

    // A payer id with a dash and a state in small letters: both said beside their fields at
    // once, everything typed kept, nothing stored.
    let typed = [
        ("csrf_token", csrf.as_str()),
        ("name", "Fictional Harbor Health"),
        ("payer_id", "FHH-01"),
        ("requires_prior_authorization", "yes"),
        ("address_line1", "12 Elm Street"),
        ("city", "Hartford"),
        ("state", "ct"),
        ("postal_code", "06103"),
        ("phone", "860-555-0143"),
    ];
    let refused = app.send(post("/billing/payers", &cookie, &typed)).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        html(&refused)
    );
    let form = section(html(&refused), "new-payer");
    assert!(
        element(form, "new-payer_id-error").contains("2-80 letters or digits"),
        "{form}"
    );
    assert!(element(form, "new-state-error").contains("two capital letters"));
    assert!(element(form, "new-payer_id").contains(r#"aria-invalid="true""#));
    assert!(!element(form, "new-name").contains("aria-invalid"));
    for (field, value) in &typed[1..] {
        if *field == "requires_prior_authorization" {
            assert!(element(form, "new-requires_prior_authorization").contains(" checked"));
        } else {
            assert_eq!(
                input_value(form, &format!("new-{field}")),
                *value,
                "{field}"
            );
        }
    }
    assert_eq!(payers_with_id(&app, org, "FHH-01").await, 0);

    // Corrected, it is added and listed among the payers billed.
    let mut corrected = typed;
    corrected[2].1 = "FHH01";
    corrected[6].1 = "CT";
    let added = app.send(post("/billing/payers", &cookie, &corrected)).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", html(&added));
    assert_eq!(location(&added), "/billing/payers?added=1");
    let payer: Uuid = sqlx::query_scalar(
        "select id from insurance_payers where org_id = $1 and payer_id = 'FHH01'",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        payer_row(&app, payer).await,
        (
            "Fictional Harbor Health".into(),
            "FHH01".into(),
            true,
            Some("12 Elm Street".into()),
            Some("Hartford".into()),
            Some("CT".into()),
            Some("06103".into()),
            Some("860-555-0143".into()),
            true,
        )
    );
    let list = app.send(get("/billing/payers?added=1", &cookie)).await;
    assert!(html(&list).contains("Payer added"));
    assert!(section(html(&list), "active-payers").contains(&format!(r#"id="payer-{payer}""#)));

    // The same payer id twice: refused beside the field.
    let twice = app.send(post("/billing/payers", &cookie, &corrected)).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", html(&twice));
    assert!(element(html(&twice), "new-payer_id-error").contains("another payer of the practice"));
    assert_eq!(payers_with_id(&app, org, "FHH01").await, 1);

    // Changed from its page: renamed, no longer asking for prior authorization, phone cleared.
    let page = app
        .send(get(&format!("/billing/payers/{payer}"), &cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let tag = hidden(section(html(&page), "edit-payer"), "tag");
    let change = |tag: &str, name: &str| {
        vec![
            ("csrf_token".to_owned(), csrf.clone()),
            ("tag".to_owned(), tag.to_owned()),
            ("name".to_owned(), name.to_owned()),
            ("payer_id".to_owned(), "FHH01".to_owned()),
            ("address_line1".to_owned(), "12 Elm Street".to_owned()),
            ("city".to_owned(), "Hartford".to_owned()),
            ("state".to_owned(), "CT".to_owned()),
            ("postal_code".to_owned(), "06103".to_owned()),
            ("phone".to_owned(), String::new()),
        ]
    };
    let fields = change(&tag, "Fictional Harbor Health Plan");
    let saved = app
        .send(post(
            &format!("/billing/payers/{payer}"),
            &cookie,
            &pairs(&fields),
        ))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", html(&saved));
    let stored = payer_row(&app, payer).await;
    assert_eq!(stored.0, "Fictional Harbor Health Plan");
    assert!(!stored.2, "prior authorization unticked");
    assert_eq!(stored.7, None, "phone cleared");

    // The version read before that change is stale: refused, the typed name kept, nothing
    // overwritten.
    let fields = change(&tag, "Stale Name");
    let stale = app
        .send(post(
            &format!("/billing/payers/{payer}"),
            &cookie,
            &pairs(&fields),
        ))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(html(&stale).contains("changed since you opened it"));
    assert_eq!(input_value(html(&stale), "edit-name"), "Stale Name");
    assert_eq!(
        payer_row(&app, payer).await.0,
        "Fictional Harbor Health Plan"
    );

    // Deactivated: listed apart, and new coverage can no longer name it.
    let patient: Uuid = sqlx::query_scalar("select id from patients where org_id = $1 limit 1")
        .bind(org)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let insurance = app
        .send(get(&format!("/patients/{patient}/insurance"), &cookie))
        .await;
    assert!(html(&insurance).contains(&format!(r#"value="{payer}""#)));
    let page = app
        .send(get(&format!("/billing/payers/{payer}"), &cookie))
        .await;
    let tag = hidden(section(html(&page), "payer-active"), "tag");
    let deactivated = app
        .send(post(
            &format!("/billing/payers/{payer}/active"),
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag), ("active", "false")],
        ))
        .await;
    assert_eq!(
        deactivated.status,
        StatusCode::SEE_OTHER,
        "{}",
        html(&deactivated)
    );
    assert!(!payer_row(&app, payer).await.8);
    let list = app.send(get("/billing/payers", &cookie)).await;
    assert!(!section(html(&list), "active-payers").contains(&payer.to_string()));
    assert!(section(html(&list), "inactive-payers").contains(&format!(r#"id="payer-{payer}""#)));
    let insurance = app
        .send(get(&format!("/patients/{patient}/insurance"), &cookie))
        .await;
    assert_eq!(insurance.status, StatusCode::OK);
    assert!(!html(&insurance).contains(&payer.to_string()));

    // Reactivated.
    let page = app
        .send(get(
            &format!("/billing/payers/{payer}?deactivated=1"),
            &cookie,
        ))
        .await;
    assert!(html(&page).contains("Payer deactivated"));
    let tag = hidden(section(html(&page), "payer-active"), "tag");
    let reactivated = app
        .send(post(
            &format!("/billing/payers/{payer}/active"),
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag), ("active", "true")],
        ))
        .await;
    assert_eq!(reactivated.status, StatusCode::SEE_OTHER);
    assert!(payer_row(&app, payer).await.8);
    app.close().await;
}

async fn charge_of(app: &TestApp, org: Uuid, code: &str) -> Option<String> {
    sqlx::query_scalar(
        "select charge::text from fee_schedule_entries where org_id = $1 and cpt_code = $2",
    )
    .bind(org)
    .bind(code)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_biller_sets_and_changes_the_practices_charges() {
    let app = TestApp::spawn().await;
    let (cookie, csrf, org) = signed_in(&app, "billing").await;
    // A code the practice has no charge for yet.
    sqlx::query("delete from fee_schedule_entries where org_id = $1 and cpt_code = '96127'")
        .bind(org)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let before = charge_of(&app, org, "90834")
        .await
        .expect("the demo charges 90834");

    // Every code Indra knows is listed, with its label and the charge, or none.
    let codes: Vec<(String, String)> =
        sqlx::query_as("select code, short_label from cpt_codes order by code")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let page = app.send(get("/billing/fees", &cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let fees = section(html(&page), "fees");
    assert_eq!(fees.matches(r#"<tr id="fee-"#).count(), codes.len());
    for (code, label) in &codes {
        let row = &fees[fees.find(&format!(r#"id="fee-{code}""#)).unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(label.as_str()), "{code}: {row}");
    }
    let row_of = |page: &str, code: &str| -> String {
        let fees = section(page, "fees");
        let row = &fees[fees.find(&format!(r#"id="fee-{code}""#)).unwrap()..];
        row[..row.find("</tr>").unwrap()].to_owned()
    };
    assert!(row_of(html(&page), "96127").contains(r#"<span class="muted">none</span>"#));
    assert!(row_of(html(&page), "90834").contains(&format!("${before}")));
    let tag = hidden(&row_of(html(&page), "90834"), "tag");

    // Not an amount: said beside the charge, the typed text kept, nothing stored.
    let refused = app
        .send(post(
            "/billing/fees/90834",
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag), ("charge", "a lot")],
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let row = row_of(html(&refused), "90834");
    assert!(row.contains("an amount above 0"), "{row}");
    assert_eq!(input_value(&row, "charge-90834"), "a lot");
    assert_eq!(
        charge_of(&app, org, "90834").await.as_deref(),
        Some(before.as_str())
    );

    // Changed with the version read.
    let changed = app
        .send(post(
            "/billing/fees/90834",
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag), ("charge", "$142.50")],
        ))
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", html(&changed));
    assert_eq!(location(&changed), "/billing/fees?saved=90834#fee-90834");
    assert_eq!(
        charge_of(&app, org, "90834").await.as_deref(),
        Some("142.50")
    );
    let page = app.send(get("/billing/fees?saved=90834", &cookie)).await;
    assert!(
        element(html(&page), "fee-saved").contains("Charge for 90834 saved: $142.50"),
        "{}",
        html(&page)
    );
    assert!(row_of(html(&page), "90834").contains("$142.50"));

    // The version read before that change is stale: nothing overwritten.
    let stale = app
        .send(post(
            "/billing/fees/90834",
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag), ("charge", "99.00")],
        ))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let row = row_of(html(&stale), "90834");
    assert!(row.contains("changed since you opened the page"), "{row}");
    assert_eq!(input_value(&row, "charge-90834"), "142.50");
    assert_eq!(
        charge_of(&app, org, "90834").await.as_deref(),
        Some("142.50")
    );

    // A code without a charge is given one (no version to send).
    let set = app
        .send(post(
            "/billing/fees/96127",
            &cookie,
            &[("csrf_token", &csrf), ("tag", ""), ("charge", "25")],
        ))
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", html(&set));
    assert_eq!(
        charge_of(&app, org, "96127").await.as_deref(),
        Some("25.00")
    );
    let page = app.send(get("/billing/fees", &cookie)).await;
    assert!(row_of(html(&page), "96127").contains("$25.00"));
    app.close().await;
}

#[tokio::test]
async fn providers_read_payers_and_charges_but_change_neither() {
    let app = TestApp::spawn().await;
    let (cookie, csrf, org) = signed_in(&app, "provider").await;
    let payer: Uuid = sqlx::query_scalar(
        "select id from insurance_payers where org_id = $1 and is_active order by name limit 1",
    )
    .bind(org)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let before = payer_row(&app, payer).await;
    let charge = charge_of(&app, org, "90834").await;

    let list = app.send(get("/billing/payers", &cookie)).await;
    assert!(html(&list).contains(&format!(r#"id="payer-{payer}""#)));
    assert!(!html(&list).contains("new-payer-form"));
    let page = app
        .send(get(&format!("/billing/payers/{payer}"), &cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!html(&page).contains("edit-payer-form"));
    assert!(!html(&page).contains("payer-active-form"));
    let fees = app.send(get("/billing/fees", &cookie)).await;
    assert_eq!(fees.status, StatusCode::OK);
    assert!(html(&fees).contains(r#"id="fee-90834""#));
    assert!(!html(&fees).contains("fee-form-"));

    // Forms posted anyway are refused, and nothing changes.
    let added = app
        .send(post(
            "/billing/payers",
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("name", "Provider's Own Plan"),
                ("payer_id", "PROV1"),
            ],
        ))
        .await;
    assert_eq!(added.status, StatusCode::FORBIDDEN);
    assert!(html(&added).contains("billers and admins"));
    assert_eq!(payers_with_id(&app, org, "PROV1").await, 0);
    let tag = {
        let biller = web_sign_in(&app, &app.email_of(0, "billing").await).await;
        let page = app
            .send(get(&format!("/billing/payers/{payer}"), &biller))
            .await;
        hidden(section(html(&page), "payer-active"), "tag")
    };
    let deactivated = app
        .send(post(
            &format!("/billing/payers/{payer}/active"),
            &cookie,
            &[("csrf_token", &csrf), ("tag", &tag), ("active", "false")],
        ))
        .await;
    assert_eq!(deactivated.status, StatusCode::FORBIDDEN);
    let renamed = app
        .send(post(
            &format!("/billing/payers/{payer}"),
            &cookie,
            &[
                ("csrf_token", &csrf),
                ("tag", &tag),
                ("name", "Renamed"),
                ("payer_id", &before.1),
            ],
        ))
        .await;
    assert_eq!(renamed.status, StatusCode::FORBIDDEN);
    assert_eq!(payer_row(&app, payer).await, before);
    let fee = app
        .send(post(
            "/billing/fees/90834",
            &cookie,
            &[("csrf_token", &csrf), ("tag", ""), ("charge", "1.00")],
        ))
        .await;
    assert_eq!(fee.status, StatusCode::FORBIDDEN);
    assert_eq!(charge_of(&app, org, "90834").await, charge);

    // A biller's form without the session's token changes nothing either.
    let (biller, _, _) = signed_in(&app, "billing").await;
    let forged = app
        .send(post(
            "/billing/fees/90834",
            &biller,
            &[("csrf_token", "forged"), ("tag", ""), ("charge", "1.00")],
        ))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(charge_of(&app, org, "90834").await, charge);
    app.close().await;
}

/// The positions of `needles` in `haystack`, each of them present.
fn positions(haystack: &str, needles: &[String]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| {
            haystack
                .find(n.as_str())
                .unwrap_or_else(|| panic!("no {n} in {haystack}"))
        })
        .collect()
}

#[tokio::test]
async fn exports_and_remittances_are_listed_newest_first() {
    let app = TestApp::spawn().await;
    let (cookie, _, org) = signed_in(&app, "billing").await;
    let exports: Vec<Uuid> = sqlx::query_scalar(
        "select id from claim_exports where org_id = $1 order by created_at desc, id desc",
    )
    .bind(org)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(
        exports.len() >= 2,
        "the demo sent several files: {exports:?}"
    );
    let workbench = app.send(get("/billing", &cookie)).await;
    let listed = section(html(&workbench), "exports");
    let at = positions(
        listed,
        &exports
            .iter()
            .map(|id| format!(r#"href="/billing/exports/{id}""#))
            .collect::<Vec<_>>(),
    );
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{listed}");

    // The demo posts one remittance: one posted a day before it and one a day after.
    for (trace, days) in [("EARLIER0001", -1), ("LATER0001", 1)] {
        sqlx::query(
            "insert into remittances (org_id, trace_number, payer_identifier, payer_name,
                                      insurance_payer_id, payment_amount, payment_method,
                                      payment_date, payee_npi, content, sha256, imported_by,
                                      created_at)
             select org_id, $2, payer_identifier, payer_name, insurance_payer_id, payment_amount,
                    payment_method, payment_date, payee_npi, content, sha256, imported_by,
                    created_at + make_interval(days => $3)
               from remittances where org_id = $1 and trace_number like 'EFT%'
              order by created_at limit 1",
        )
        .bind(org)
        .bind(trace)
        .bind(days)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    let traces: Vec<String> = sqlx::query_scalar(
        "select trace_number from remittances where org_id = $1 order by created_at desc, id desc",
    )
    .bind(org)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(traces.len(), 3, "{traces:?}");
    assert_eq!(traces[0], "LATER0001");
    let page = app.send(get("/billing/remittances", &cookie)).await;
    let posted = section(html(&page), "posted");
    let at = positions(
        posted,
        &traces
            .iter()
            .map(|t| format!(r#"<td class="mono">{t}</td>"#))
            .collect::<Vec<_>>(),
    );
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{posted}");
    app.close().await;
}
