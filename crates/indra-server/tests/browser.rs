//! The real application in headless Chromium: a server on a loopback port over a fresh demo
//! database, driven through chromedriver the way a person uses it (typing, clicking, following
//! links). Each flow saves a screenshot of its end state under `target/test-output/browser/`.
//!
//! They need Debian's `chromium` and `chromium-driver` (scripts/test installs them when it can)
//! and fail when those are missing, unless `INDRA_SKIP_BROWSER_TESTS=1`. See docs/testing.md.

#[path = "browser/harness.rs"]
mod harness;

use anyhow::{Context as _, ensure};
use harness::Browser;
use indra_db::testing::DEMO_TEST_PASSWORD;

const ADMIN_EMAIL: &str = "admin@riverbend.example";
const ADMIN_NAME: &str = "Morgan Practice-Admin";

/// The main navigation every signed-in person sees, in order; admins also see "Admin", billers
/// and admins "Billing", clinicians and admins "Assistant".
const NAV_LINKS: &[&str] = &["Today", "Patients", "Schedule"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_reaches_the_server() {
    let Some(b) = Browser::start("healthz").await else {
        return;
    };
    let outcome = async {
        b.goto("/healthz").await?;
        let body = b.text("body").await?;
        ensure!(!body.trim().is_empty(), "/healthz showed an empty page");
        Ok(())
    }
    .await;
    b.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_sees_the_shell_and_signs_out() {
    let Some(b) = Browser::start("sign_in_and_out").await else {
        return;
    };
    let outcome = sign_in_and_out(&b).await;
    b.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_shows_an_alert() {
    let Some(b) = Browser::start("wrong_password").await else {
        return;
    };
    let outcome = wrong_password(&b).await;
    b.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_user_who_then_signs_in() {
    let Some(b) = Browser::start("admin_adds_user").await else {
        return;
    };
    let outcome = admin_adds_user(&b).await;
    b.finish(outcome).await;
}

async fn sign_in_and_out(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(ADMIN_EMAIL, DEMO_TEST_PASSWORD).await?;
    expect_shell(b, ADMIN_NAME, "admin", true).await?;
    b.wait_for_path("/").await?;
    b.screenshot("sign_in_and_out-shell").await?;

    sign_out(b).await?;

    // Signed out for real: the home page no longer shows anyone's shell.
    b.goto("/").await?;
    b.wait_for("body").await?;
    ensure!(
        !b.exists("span#current-user").await?,
        "after signing out, / still shows a signed-in shell"
    );
    b.goto("/login").await?;
    b.wait_for("form#sign-in").await?;
    Ok(())
}

async fn wrong_password(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(ADMIN_EMAIL, "not-the-password-2026").await?;
    let alert = b.text("p[role=alert]").await?;
    ensure!(!alert.trim().is_empty(), "the sign-in alert is empty");
    ensure!(
        !b.exists("span#current-user").await?,
        "a wrong password signed in"
    );
    b.wait_for("form#sign-in #email")
        .await
        .context("the form is shown again")?;
    b.wait_for("form#sign-in #password").await?;
    Ok(())
}

async fn admin_adds_user(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(ADMIN_EMAIL, DEMO_TEST_PASSWORD).await?;
    expect_shell(b, ADMIN_NAME, "admin", true).await?;

    // Through the navigation, as a person would get there.
    b.wait_for(r#"nav[aria-label="Main"] a[href="/admin/users"]"#)
        .await?
        .click()
        .await?;
    b.wait_for_path("/admin/users").await?;
    let before = b.text("table#users").await?;
    ensure!(
        before.contains(ADMIN_EMAIL),
        "table#users does not list {ADMIN_EMAIL}: {before}"
    );

    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let email = format!("front-desk-{suffix}@riverbend.example");
    let name = "Robin Browser-Test";
    let password = "a-long-first-password-2026";
    b.fill("form#new-user [name=full_name]", name).await?;
    b.fill("form#new-user [name=email]", &email).await?;
    b.fill("form#new-user [name=password]", password).await?;
    b.select("form#new-user select[name=role]", "staff").await?;
    b.submit("form#new-user").await?;

    let status = b.text("p[role=status]").await?;
    ensure!(!status.trim().is_empty(), "the confirmation is empty");
    b.wait_for_path("/admin/users").await?;
    let after = b.text("table#users").await?;
    ensure!(
        after.contains(&email),
        "table#users does not list the new user {email}: {after}"
    );
    b.screenshot("admin_adds_user-added").await?;

    sign_out(b).await?;
    b.sign_in(&email, password).await?;
    expect_shell(b, name, "staff", false).await?;
    b.wait_for_path("/").await?;

    // Not an admin: the users page must not show the users or the form to add one.
    b.goto("/admin/users").await?;
    b.wait_for("body").await?;
    ensure!(
        !b.exists("table#users").await? && !b.exists("form#new-user").await?,
        "a staff member sees the admin users page"
    );
    b.goto("/").await?;
    expect_shell(b, name, "staff", false).await?;
    Ok(())
}

const FRONT_DESK_EMAIL: &str = "frontdesk@riverbend.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_desk_finds_a_patient_by_a_misspelled_name() {
    let Some(b) = Browser::start("find_patient").await else {
        return;
    };
    let outcome = find_patient(&b).await;
    b.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_series_skips_a_conflicting_slot() {
    let Some(b) = Browser::start("book_weekly_series").await else {
        return;
    };
    let outcome = book_weekly_series(&b).await;
    b.finish(outcome).await;
}

async fn find_patient(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(FRONT_DESK_EMAIL, DEMO_TEST_PASSWORD).await?;
    b.wait_for_path("/").await?;
    b.wait_for(r#"nav[aria-label="Main"] a[href="/patients"]"#)
        .await?
        .click()
        .await?;
    b.wait_for_path("/patients").await?;
    // A patient of the list: "Last, First".
    let name = b.text("table#patients tbody tr th a").await?;
    let (last, first) = name
        .split_once(", ")
        .with_context(|| format!("{name:?} is not Last, First"))?;
    // The last name with its last letter mistyped, as someone in a hurry types it.
    let mut typo: Vec<char> = last.chars().collect();
    let end = typo.len() - 1;
    typo[end] = if typo[end] == 'a' { 'e' } else { 'a' };
    let typo: String = typo.into_iter().collect();
    b.fill("form#patient-search #q", &format!("{first} {typo}"))
        .await?;
    b.submit("form#patient-search").await?;
    let status = b.text("p[role=status]").await?;
    ensure!(
        status.contains("closest first"),
        "no ranked results: {status}"
    );
    let results = b.text("table#patients").await?;
    ensure!(
        results.contains(&name),
        "searching {typo:?} did not find {name:?}: {results}"
    );
    b.screenshot("find_patient-results").await?;

    let link = b.wait_for("table#patients tbody tr th a").await?;
    ensure!(
        link.text().await?.trim() == name,
        "{name:?} is not the closest match"
    );
    link.click().await?;
    b.wait_for("section#demographics").await?;
    let heading = b.text("h1").await?;
    ensure!(
        heading.contains(first) && heading.contains(last),
        "the chart's heading is {heading:?}, not {name:?}"
    );
    ensure!(b.path().await?.starts_with("/patients/"));
    b.screenshot("find_patient-chart").await?;
    Ok(())
}

/// Sets a field's value directly (date and time inputs take typed keys in the browser's
/// locale's order, which a test cannot rely on).
async fn set_value(b: &Browser, css: &str, value: &str) -> anyhow::Result<()> {
    b.wait_for(css).await?;
    b.client()
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![css.into(), value.into()],
        )
        .await
        .with_context(|| format!("setting `{css}`"))?;
    Ok(())
}

async fn book_weekly_series(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(FRONT_DESK_EMAIL, DEMO_TEST_PASSWORD).await?;
    b.wait_for_path("/").await?;
    b.goto("/schedule").await?;
    b.wait_for("form#book").await?;
    // Far enough ahead to be free: a single appointment at 7:00, then a weekly series around it.
    let taken = time::OffsetDateTime::now_utc().date() + time::Duration::weeks(20);
    let first = taken - time::Duration::weeks(1);
    let patient = b
        .wait_for("form#book select[name=patient_id] option:nth-child(2)")
        .await?
        .attr("value")
        .await?
        .context("a patient to choose")?;
    b.select("form#book select[name=patient_id]", &patient)
        .await?;
    set_value(b, "form#book #date", &taken.to_string()).await?;
    set_value(b, "form#book #time", "07:00").await?;
    b.submit("form#book").await?;
    let booked = b.text("#booking-result").await?;
    ensure!(
        booked.contains("Booked"),
        "the single booking said {booked:?}"
    );

    // The series, three weeks from the week before: its second date is taken.
    b.select("form#book select[name=patient_id]", &patient)
        .await?;
    set_value(b, "form#book #date", &first.to_string()).await?;
    set_value(b, "form#book #time", "07:00").await?;
    b.wait_for("form#book #repeat").await?.click().await?;
    b.fill("form#book #weeks", "3").await?;
    b.submit("form#book").await?;
    let refused = b.text("#form-error").await?;
    ensure!(
        refused.contains("already booked") && refused.contains("7:00 AM"),
        "the conflict is not clear: {refused:?}"
    );
    b.screenshot("book_weekly_series-conflict").await?;

    // The form kept what was typed; skip the taken date this time.
    b.wait_for("form#book #skip_conflicts")
        .await?
        .click()
        .await?;
    b.submit("form#book").await?;
    let result = b.text("#booking-result").await?;
    ensure!(
        result.contains("Booked 2 weekly appointments"),
        "the series booking said {result:?}"
    );
    let skipped = b.text("ul#skipped-dates").await?;
    let taken_day = format!("{} {},", &taken.month().to_string()[..3], taken.day());
    ensure!(
        skipped.contains(&taken_day) && skipped.contains("7:00 AM"),
        "the skipped date {taken_day} is not listed: {skipped:?}"
    );
    b.screenshot("book_weekly_series-booked").await?;
    Ok(())
}

/// The first clinician of the demo practice (an LCSW who writes SOAP notes): the demo names its
/// clinicians from the practice's position, and Riverbend is the first practice.
const SOAP_CLINICIAN_EMAIL: &str = "imani.kettering@riverbend.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_writes_signs_and_amends_a_soap_note() {
    let Some(b) = Browser::start("soap_note").await else {
        return;
    };
    let outcome = soap_note(&b).await;
    b.finish(outcome).await;
}

async fn soap_note(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(SOAP_CLINICIAN_EMAIL, DEMO_TEST_PASSWORD).await?;
    b.wait_for_path("/").await?;
    b.goto("/patients").await?;
    b.wait_for("table#patients tbody tr th a")
        .await?
        .click()
        .await?;
    b.wait_for("section#demographics").await?;
    let chart = b.path().await?;
    let patient_id = chart.trim_start_matches("/patients/").to_owned();

    // Every finished session of the demo has its note: open an encounter for today through the
    // API, from a page whose policy lets scripts call it (a note page), as the session's user.
    b.wait_for("a.note-link").await?.click().await?;
    b.wait_for("#note-facts").await?;
    let csrf = b
        .wait_for("form#sign-out input[name=csrf_token]")
        .await?
        .attr("value")
        .await?
        .context("the page's CSRF token")?;
    let opened = b
        .client()
        .execute_async(
            r#"const [patient, csrf, done] = arguments;
               fetch("/api/v1/me").then(r => r.json()).then(me => fetch("/api/v1/encounters", {
                   method: "POST",
                   headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                   body: JSON.stringify({patient_id: patient, provider_id: me.provider.id,
                                         encounter_type: "individual_therapy"})}))
                 .then(r => r.json()).then(e => done(e.id || JSON.stringify(e)), e => done(String(e)));"#,
            vec![patient_id.clone().into(), csrf.into()],
        )
        .await
        .context("opening an encounter through the API")?;
    let encounter = opened.as_str().unwrap_or_default().to_owned();
    ensure!(
        uuid::Uuid::parse_str(&encounter).is_ok(),
        "no encounter was opened: {opened}"
    );

    // The chart offers to write its note; the draft opens in the clinician's SOAP format.
    b.goto(&chart).await?;
    b.wait_for(&format!(r#"a[href="/encounters/{encounter}/notes/new"]"#))
        .await?
        .click()
        .await?;
    let format = b
        .wait_for("form#new-note select[name=format] option[selected]")
        .await?
        .attr("value")
        .await?;
    ensure!(
        format.as_deref() == Some("SOAP"),
        "the format offered is {format:?}"
    );
    b.submit("form#new-note").await?;
    b.wait_for("form#note-editor").await?;
    for label in ["Subjective", "Objective", "Assessment", "Plan"] {
        let text = b.text("form#note-editor").await?;
        ensure!(text.contains(label), "no {label} section in the editor");
    }
    b.fill(
        "#section-subjective",
        "Reports sleeping better since last week.",
    )
    .await?;
    b.fill(
        "#section-objective",
        "Calm, well groomed, good eye contact.",
    )
    .await?;
    b.fill("#section-assessment", "GAD symptoms improving.")
        .await?;
    b.fill(
        "#section-plan",
        "Continue weekly CBT.\nReview sleep diary next session.",
    )
    .await?;

    // Autosave (every 20 seconds) says when it saved, without a click.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    loop {
        let said = b.text("#autosave-status").await?;
        if said.contains("Saved at") {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "autosave did not save within 45 s: {said:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let warning = b.text("#sign-warning").await?;
    ensure!(
        warning.contains("legal record"),
        "no warning before signing: {warning:?}"
    );
    b.submit("form#sign-note").await?;
    let status = b.text("p[role=status]").await?;
    ensure!(status.contains("Signed"), "signing said {status:?}");
    ensure!(
        !b.exists("form#note-editor").await?,
        "a signed note still shows its editor"
    );
    let signed = b.text("#note-content").await?;
    ensure!(
        signed.contains("Review sleep diary next session."),
        "the signed note lost the autosaved text: {signed}"
    );
    b.screenshot("soap_note-signed").await?;

    // Amend: the full note prefilled, one line corrected, with the reason.
    b.wait_for("details#amend > summary").await?.click().await?;
    b.fill(
        "#amend-plan",
        "Continue weekly CBT.\nReview sleep diary and caffeine intake next session.",
    )
    .await?;
    b.fill(
        "form#amend-note #reason",
        "Added caffeine review to the plan",
    )
    .await?;
    b.submit("form#amend-note").await?;
    let status = b.text("p[role=status]").await?;
    ensure!(status.contains("Amended"), "amending said {status:?}");
    b.wait_for(r#"a[href$="/history"]"#).await?.click().await?;
    b.wait_for("#verification-result").await?;
    let verified = b.text("#verification-result").await?;
    ensure!(
        verified.starts_with("Verified"),
        "verification: {verified:?}"
    );
    let removed = b.text("#version-2 del").await?;
    let added = b.text("#version-2 ins").await?;
    ensure!(
        removed.contains("Review sleep diary next session.") && added.contains("caffeine intake"),
        "the difference shows -{removed:?} +{added:?}"
    );
    ensure!(
        b.exists("#version-1").await?,
        "version 1 is not in the history"
    );
    b.screenshot("soap_note-history").await?;
    Ok(())
}

/// The signed-in shell: who is signed in, the main navigation (with Admin only for admins) and
/// the sign-out form.
async fn expect_shell(b: &Browser, name: &str, role: &str, admin: bool) -> anyhow::Result<()> {
    let current = b.text("span#current-user").await?;
    ensure!(
        current.contains(name),
        "span#current-user shows {current:?}, not the name {name:?}"
    );
    ensure!(
        current.to_lowercase().contains(role),
        "span#current-user shows {current:?}, not the role {role:?}"
    );

    b.wait_for(r#"nav[aria-label="Main"]"#).await?;
    let mut labels = Vec::new();
    for link in b.find_all(r#"nav[aria-label="Main"] a"#).await? {
        labels.push(link.text().await?.trim().to_owned());
    }
    for wanted in NAV_LINKS {
        ensure!(
            labels.iter().any(|l| l == wanted),
            "the main navigation has no {wanted:?} link: {labels:?}"
        );
    }
    let billing_link = labels.iter().any(|l| l == "Billing");
    ensure!(
        billing_link == (admin || role == "billing"),
        "the Billing link is {} for a {role}: {labels:?}",
        if billing_link { "shown" } else { "missing" }
    );
    let assistant_link = labels.iter().any(|l| l == "Assistant");
    ensure!(
        assistant_link == (admin || role == "provider"),
        "the Assistant link is {} for a {role}: {labels:?}",
        if assistant_link { "shown" } else { "missing" }
    );
    let admin_link = b
        .exists(r#"nav[aria-label="Main"] a[href="/admin/users"]"#)
        .await?
        || labels.iter().any(|l| l == "Admin");
    ensure!(
        admin_link == admin,
        "the Admin link is {} for a {role}: {labels:?}",
        if admin_link { "shown" } else { "missing" }
    );

    b.wait_for("form#sign-out").await?;
    Ok(())
}

async fn sign_out(b: &Browser) -> anyhow::Result<()> {
    b.submit("form#sign-out").await?;
    b.wait_for("form#sign-in").await?;
    b.wait_for_path("/login").await?;
    Ok(())
}

const BILLER_EMAIL: &str = "billing@riverbend.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_biller_takes_a_signed_session_to_an_exported_claim() {
    let Some(b) = Browser::start("bill_a_session").await else {
        return;
    };
    let outcome = bill_a_session(&b).await;
    b.finish(outcome).await;
}

async fn bill_a_session(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(BILLER_EMAIL, DEMO_TEST_PASSWORD).await?;
    b.wait_for_path("/").await?;
    b.wait_for(r#"nav[aria-label="Main"] a[href="/billing"]"#)
        .await?
        .click()
        .await?;
    b.wait_for_path("/billing").await?;
    b.wait_for("#claims-table").await?;

    // A signed session no claim bills yet: tick it, create its claim.
    let ticked = b
        .client()
        .execute(
            r##"const row = [...document.querySelectorAll("#unbilled-table tbody tr")]
                   .find(r => r.querySelector(".status-signed"));
               if (!row) return null;
               const box = row.querySelector("input[type=checkbox]");
               box.click();
               return box.value;"##,
            vec![],
        )
        .await
        .context("ticking a signed session")?;
    ensure!(
        ticked.as_str().is_some(),
        "no signed session waits for a claim"
    );
    b.screenshot("bill_a_session-workbench").await?;
    b.submit("form#create-claims").await?;
    let created = b.text("#batch-result p[role=status]").await?;
    ensure!(
        created.contains("Created 1 draft claim"),
        "creating said {created:?}"
    );
    let link = b.wait_for("#created-claims a").await?;
    let number = link.text().await?.trim().to_owned();
    link.click().await?;
    b.wait_for("form#claim-editor").await?;
    let claim_path = b.path().await?;

    // The scrubber at work: a charge of 0 is held, beside the charge.
    b.fill("#line0-charge", "0.00").await?;
    b.submit("form#claim-editor").await?;
    let saved = b.text("p[role=status]").await?;
    ensure!(saved.contains("Claim saved"), "saving said {saved:?}");
    let held = b.text("#line0 .finding-error").await?;
    ensure!(
        held.contains("charge is $0.00"),
        "no finding beside the charge: {held:?}"
    );
    b.submit("form#mark-ready").await?;
    let refused = b.text("#form-error").await?;
    ensure!(
        refused.contains("Not ready"),
        "marking ready with a finding said {refused:?}"
    );
    b.screenshot("bill_a_session-scrubber").await?;

    // Fixed, then ready.
    b.fill("#line0-charge", "135.00").await?;
    b.submit("form#claim-editor").await?;
    ensure!(
        !b.exists("#line0 .finding-error").await?,
        "the finding stays after the fix"
    );
    b.submit("form#mark-ready").await?;
    let ready = b.text("p[role=status]").await?;
    ensure!(
        ready.contains("Claim ready"),
        "marking ready said {ready:?}"
    );
    ensure!(b.path().await? == claim_path);
    b.screenshot("bill_a_session-ready").await?;

    // Exported from the ready tab: the file downloads and the claim is submitted.
    b.goto("/billing?status=ready").await?;
    b.wait_for(&format!("tr#claim-{number} input[name=claim_id]"))
        .await?
        .click()
        .await?;
    b.wait_for("#export-button").await?.click().await?;
    let deadline = std::time::Instant::now() + harness::WAIT;
    loop {
        b.goto("/billing?status=submitted").await?;
        b.wait_for("#claims").await?;
        if b.exists(&format!("tr#claim-{number}")).await? {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{number} was not submitted by the export"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let exports = b.text("#exports-table").await?;
    ensure!(
        exports.contains(&number),
        "the 837P files do not list {number}: {exports}"
    );
    b.screenshot("bill_a_session-exported").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_dictates_answers_the_assistant_reviews_commits_and_signs() {
    let Some(b) = Browser::start("assistant").await else {
        return;
    };
    let outcome = assistant_dictation(&b).await;
    b.finish(outcome).await;
}

/// Clicks `css` and waits until the page it was on is replaced (a form's answer loaded).
async fn click_and_wait(b: &Browser, css: &str) -> anyhow::Result<()> {
    let old_page = b.client().find(fantoccini::Locator::Css("html")).await?;
    b.wait_for(css)
        .await?
        .click()
        .await
        .with_context(|| format!("clicking `{css}`"))?;
    let deadline = std::time::Instant::now() + harness::WAIT;
    while old_page.tag_name().await.is_ok() {
        ensure!(
            std::time::Instant::now() < deadline,
            "clicking `{css}` loaded no new page"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn assistant_dictation(b: &Browser) -> anyhow::Result<()> {
    b.sign_in(SOAP_CLINICIAN_EMAIL, DEMO_TEST_PASSWORD).await?;
    b.wait_for_path("/").await?;
    b.goto("/patients").await?;
    b.wait_for("table#patients tbody tr th a")
        .await?
        .click()
        .await?;
    b.wait_for("section#demographics").await?;
    let patient_id = b.path().await?.trim_start_matches("/patients/").to_owned();
    let heading = b.text("h1").await?;
    let first_name = heading
        .split_whitespace()
        .next()
        .context("the chart names the patient")?
        .to_owned();

    // A second patient with the same first name, so the dictation is ambiguous.
    let csrf = b
        .wait_for("form#sign-out input[name=csrf_token]")
        .await?
        .attr("value")
        .await?
        .context("the page's CSRF token")?;
    let created = b
        .client()
        .execute_async(
            r#"const [first, csrf, done] = arguments;
               fetch("/api/v1/patients", {
                   method: "POST",
                   headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                   body: JSON.stringify({first_name: first, last_name: "Quillfeather",
                                         date_of_birth: "1988-04-12"})})
                 .then(r => r.json()).then(p => done(p.id || JSON.stringify(p)), e => done(String(e)));"#,
            vec![first_name.clone().into(), csrf.into()],
        )
        .await
        .context("registering a second patient through the API")?;
    let namesake = created.as_str().unwrap_or_default().to_owned();
    ensure!(
        uuid::Uuid::parse_str(&namesake).is_ok(),
        "no second patient: {created}"
    );

    // Today's panel: dictated (typed here; the Dictate button is the browser's speech
    // recognition where it has one).
    b.goto("/").await?;
    b.wait_for("#assistant-panel").await?;
    ensure!(b.exists("#assistant-dictate").await?, "no Dictate button");
    let dictation = format!(
        "Individual session with {first_name} today, 45 minutes. She reports fewer panic attacks and \
         sleeping better. Affect brighter, engaged. Plan: continue exposure work. Schedule her next \
         Tuesday at 3."
    );
    b.fill("#assistant-input", &dictation).await?;
    b.screenshot("assistant-panel").await?;
    b.submit("form#assistant-form").await?;

    // The run page follows the run and shows its question: which patient?
    let question = b.text("#clarification-question").await?;
    ensure!(
        question.contains(&first_name),
        "the question does not name {first_name}: {question:?}"
    );
    let options = b.find_all("button.clarification-option").await?;
    ensure!(options.len() >= 2, "{} options offered", options.len());
    b.screenshot("assistant-clarification").await?;
    click_and_wait(
        b,
        &format!(r#"button.clarification-option[value="{patient_id}"]"#),
    )
    .await?;

    // Resumed, it proposes: each proposal beside its highlighted evidence.
    b.wait_for("form#commit-form").await?;
    let marked = b.find_all("#dictation mark").await?;
    ensure!(!marked.is_empty(), "no evidence is highlighted");
    let mut cards = Vec::new();
    for card in b.find_all("article.action-card").await? {
        let id = card.attr("id").await?.unwrap_or_default();
        let title = card
            .find(fantoccini::Locator::Css("h2"))
            .await?
            .text()
            .await?;
        cards.push((id, title));
    }
    ensure!(
        cards.iter().any(|(_, t)| t.starts_with("Note draft")),
        "no note draft proposed: {cards:?}"
    );
    ensure!(
        cards.iter().all(|(_, t)| !t.contains("Quillfeather")),
        "a proposal for the other patient: {cards:?}"
    );
    b.screenshot("assistant-review").await?;
    for (id, title) in &cards {
        let button = if title.starts_with("Billing codes") {
            "button.reject"
        } else {
            "button.accept"
        };
        click_and_wait(b, &format!("#{id} {button}")).await?;
        b.wait_for("form#commit-form").await?;
    }
    b.submit("form#commit-form").await?;
    let created = b.text("#created").await?;
    ensure!(
        created.contains("Open as note"),
        "the commit created no note draft: {created}"
    );
    b.screenshot("assistant-committed").await?;

    // The draft opens as a note, which the clinician signs.
    b.submit("#created form").await?;
    b.wait_for("form#note-editor").await?;
    ensure!(b.path().await?.starts_with("/notes/"), "not on a note");
    b.submit("form#sign-note").await?;
    let status = b.text("p[role=status]").await?;
    ensure!(status.contains("Signed"), "signing said {status:?}");
    Ok(())
}
