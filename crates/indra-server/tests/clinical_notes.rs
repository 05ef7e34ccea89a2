//! Clinical notes over the API, the legal record: drafts only their author edits and signs,
//! signed versions that never change, amendments and addenda as new versions with their
//! history and differences, the supervisor's cosignature inbox, signatures anyone can verify
//! with the published keys, and the walls (another practice, billing, the front desk).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::{Method, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Answer, TestApp};
use indra_rules::clinical::note_signing::{
    NoteVersionIdentity, VerifyingKey, note_content_hash, verify_note_signature,
};
use serde_json::{Value, json};
use uuid::Uuid;

const ORG_A: usize = 0;
const ORG_B: usize = 1;

fn soap(plan: &str) -> Value {
    json!({
        "subjective": "Reports worry about work deadlines.\nSleep 6 hours.",
        "objective": "Alert, oriented, anxious affect.",
        "assessment": "Anxiety 6/10, improving.",
        "plan": plan,
    })
}

fn birp() -> Value {
    json!({
        "behavior": "Tearful at the start, engaged later.",
        "intervention": "Grounding; cognitive restructuring.",
        "response": "Reported relief.",
        "plan": "Weekly sessions.",
    })
}

fn etag(answer: &Answer) -> String {
    answer
        .headers
        .get(header::ETAG)
        .unwrap_or_else(|| panic!("no ETag: {:?}", answer.body))
        .to_str()
        .unwrap()
        .to_owned()
}

fn id_of(answer: &Answer) -> Uuid {
    answer.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {:?}", answer.body))
        .parse()
        .unwrap()
}

#[track_caller]
fn assert_status(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
}

#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, kind: &str, field: Option<&str>) {
    assert_status(answer, status);
    assert_eq!(
        answer.body["type"],
        format!("/problems/{kind}"),
        "{:?}",
        answer.body
    );
    if let Some(field) = field {
        assert_eq!(answer.body["field"], field, "{:?}", answer.body);
    }
}

async fn post(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Answer {
    app.call(Method::POST, path, Some(token), Some(body), headers)
        .await
}

/// The signed-in token of organization `org`'s clinician with these credentials.
async fn clinician(app: &TestApp, org: usize, credentials: &str) -> String {
    let email: String = sqlx::query_scalar(
        "select u.email::text from users u join providers p on p.org_id = u.org_id and p.user_id = u.id
          where u.org_id = (select org_id from users where email = $1) and p.credentials = $2",
    )
    .bind(app.email_of(org, "admin").await)
    .bind(credentials)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    app.sign_in(&email).await
}

async fn provider_id_of(app: &TestApp, org: usize, credentials: &str) -> Uuid {
    sqlx::query_scalar(
        "select p.id from providers p
          where p.org_id = (select org_id from users where email = $1) and p.credentials = $2",
    )
    .bind(app.email_of(org, "admin").await)
    .bind(credentials)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// An encounter of organization `org`.
async fn an_encounter(app: &TestApp, org: usize) -> Uuid {
    sqlx::query_scalar(
        "select id from encounters where org_id = (select org_id from users where email = $1)
          order by id limit 1",
    )
    .bind(app.email_of(org, "admin").await)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

/// A new draft by `token` for the encounter, checked.
async fn draft(app: &TestApp, token: &str, encounter: Uuid, content: Value) -> Answer {
    let created = post(
        app,
        &format!("/api/v1/encounters/{encounter}/notes"),
        token,
        json!({"content": content}),
        &[],
    )
    .await;
    assert_status(&created, StatusCode::CREATED);
    created
}

async fn sign(app: &TestApp, token: &str, note: Uuid) -> Answer {
    app.call(
        Method::POST,
        &format!("/api/v1/notes/{note}/sign"),
        Some(token),
        None,
        &[],
    )
    .await
}

async fn stored_note(app: &TestApp, note: Uuid) -> (String, Value, Option<Vec<u8>>) {
    sqlx::query_as("select status::text, content, content_hash from clinical_notes where id = $1")
        .bind(note)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_draft_is_written_by_its_author_signed_and_verifiable_with_the_published_key() {
    let app = TestApp::spawn().await;
    let server_key_id = indra_server::clinical::notes::ensure_signing_key(&app.state)
        .await
        .unwrap();
    let author = clinician(&app, ORG_A, "LCSW").await;
    let colleague = clinician(&app, ORG_A, "PsyD").await;
    let encounter = an_encounter(&app, ORG_A).await;
    let path = format!("/api/v1/encounters/{encounter}/notes");

    // Publishing a key is the login role's alone (a user who could would make their own
    // signatures verify), and a published key never changes, not even for the owner.
    let mut tx = app.db.pool.begin().await.unwrap();
    sqlx::query("set local role authenticated")
        .execute(&mut *tx)
        .await
        .unwrap();
    let error =
        sqlx::query("select app.register_signing_key('mine', decode(repeat('ab', 32), 'hex'))")
            .execute(&mut *tx)
            .await
            .unwrap_err();
    assert_eq!(
        error.as_database_error().unwrap().code().as_deref(),
        Some("42501")
    );
    tx.rollback().await.unwrap();
    let error = sqlx::query(
        "update indra_keys.signing_keys set public_key = decode(repeat('ab', 32), 'hex')",
    )
    .execute(&app.db.pool)
    .await
    .unwrap_err();
    assert_eq!(
        error.as_database_error().unwrap().constraint(),
        Some("signing_keys_append_only")
    );

    // The format's sections exactly, each a text: said by the database, answered as 422.
    let wrong = post(
        &app,
        &path,
        &author,
        json!({"content": {"data": "d", "assessment": "a", "plan": "p"}}),
        &[],
    )
    .await;
    assert_problem(
        &wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("content"),
    );
    let not_text = post(
        &app,
        &path,
        &author,
        json!({"format": "DAP", "content": {"data": 1, "assessment": "a", "plan": "p"}}),
        &[],
    )
    .await;
    assert_problem(
        &not_text,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("content"),
    );

    // Without a format, the clinician's preferred one (SOAP for the LCSW); retried with its key,
    // the same note.
    let key = [("idempotency-key", "note-1")];
    let created = post(
        &app,
        &path,
        &author,
        json!({"content": soap("Weekly CBT.")}),
        &key,
    )
    .await;
    assert_status(&created, StatusCode::CREATED);
    let note = id_of(&created);
    assert_eq!(created.body["format"], "SOAP");
    assert_eq!(created.body["status"], "draft");
    assert_eq!(created.body["version"], 1);
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/api/v1/notes/{note}")
    );
    let replay = post(
        &app,
        &path,
        &author,
        json!({"content": soap("Weekly CBT.")}),
        &key,
    )
    .await;
    assert_eq!((replay.status, id_of(&replay)), (StatusCode::CREATED, note));
    assert_eq!(replay.headers["idempotent-replayed"], "true");

    // Only the author edits the draft, with the version they read.
    let read = app.get(&format!("/api/v1/notes/{note}"), &author).await;
    assert_status(&read, StatusCode::OK);
    let tag = etag(&read);
    let note_path = format!("/api/v1/notes/{note}");
    let change = json!({"content": soap("Weekly CBT; sleep diary.")});
    let unversioned = app
        .call(
            Method::PATCH,
            &note_path,
            Some(&author),
            Some(change.clone()),
            &[],
        )
        .await;
    assert_problem(
        &unversioned,
        StatusCode::PRECONDITION_REQUIRED,
        "version-required",
        None,
    );
    let by_colleague = app
        .call(
            Method::PATCH,
            &note_path,
            Some(&colleague),
            Some(change.clone()),
            &[("if-match", &tag)],
        )
        .await;
    assert_problem(&by_colleague, StatusCode::FORBIDDEN, "forbidden", None);
    let edited = app
        .call(
            Method::PATCH,
            &note_path,
            Some(&author),
            Some(change.clone()),
            &[("if-match", &tag)],
        )
        .await;
    assert_status(&edited, StatusCode::OK);
    assert_eq!(edited.body["content"]["plan"], "Weekly CBT; sleep diary.");
    let stale = app
        .call(
            Method::PATCH,
            &note_path,
            Some(&author),
            Some(change),
            &[("if-match", &tag)],
        )
        .await;
    assert_problem(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "stale-version",
        None,
    );

    // Signing someone else's note is refused, and changes nothing.
    let refused = sign(&app, &colleague, note).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(stored_note(&app, note).await.0, "draft");
    // An admin reads notes but signs none.
    let admin = app.sign_in(&app.email_of(ORG_A, "admin").await).await;
    assert_status(&app.get(&note_path, &admin).await, StatusCode::OK);
    assert_problem(
        &sign(&app, &admin, note).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );

    // Signed by its author: the hash over the canonical content, an Ed25519 signature with the
    // server's published key.
    let signed = sign(&app, &author, note).await;
    assert_status(&signed, StatusCode::OK);
    let body = &signed.body;
    assert_eq!(body["status"], "signed");
    assert!(body["signed_at"].is_string());
    let signatures = body["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1);
    let signature = &signatures[0];
    assert_eq!(signature["signature_type"], "author");
    assert_eq!(signature["signer_provider_id"], body["author_provider_id"]);
    assert_eq!(signature["signing_key_id"], server_key_id.as_str());
    assert_eq!(body["awaiting_cosignature"], false);
    assert_problem(
        &sign(&app, &author, note).await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );

    // Anyone with the published key and the note checks the signature without the server.
    let keys = app.get("/api/v1/signing-keys", &colleague).await;
    assert_status(&keys, StatusCode::OK);
    let published = keys.body["items"].as_array().unwrap();
    let ours = published
        .iter()
        .find(|k| k["key_id"] == server_key_id.as_str())
        .expect("the server's key is published");
    assert_eq!(
        (ours["algorithm"].as_str(), ours["current"].as_bool()),
        (Some("Ed25519"), Some(true))
    );
    assert!(
        published
            .iter()
            .any(|k| k["key_id"] == "indra-demo-key-1" && k["current"] == false)
    );
    let public: [u8; 32] = BASE64
        .decode(ours["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let identity = NoteVersionIdentity {
        note_id: text(&body["id"]),
        lineage_id: text(&body["lineage_id"]),
        version: 1,
        patient_id: text(&body["patient_id"]),
        encounter_id: text(&body["encounter_id"]),
        author_provider_id: text(&body["author_provider_id"]),
        format: "SOAP".into(),
        addendum_text: None,
    };
    let hash = note_content_hash(&identity, &body["content"]);
    assert_eq!(body["content_hash"], hex::encode(hash));
    let bytes: [u8; 64] = BASE64
        .decode(signature["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signed_at = time::OffsetDateTime::parse(
        signature["signed_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(verify_note_signature(
        &VerifyingKey::from_bytes(&public).unwrap(),
        &hash,
        &text(&signature["signer_provider_id"]),
        "author",
        &indra_rules::clinical::note_signing::signing_time_text(signed_at),
        &bytes,
    ));

    let verification = app
        .get(&format!("/api/v1/notes/{note}/verification"), &author)
        .await;
    assert_status(&verification, StatusCode::OK);
    assert_eq!(verification.body["ok"], true, "{:?}", verification.body);
    assert_eq!(verification.body["versions"][0]["hash"], "intact");
    assert_eq!(
        verification.body["versions"][0]["signatures"][0]["result"],
        "valid"
    );

    // A signed note cannot be edited through the API, even by its author with its version.
    let before = stored_note(&app, note).await;
    let tag = etag(&signed);
    let edit = app
        .call(
            Method::PATCH,
            &note_path,
            Some(&author),
            Some(json!({"content": soap("Changed after signing.")})),
            &[("if-match", &tag)],
        )
        .await;
    assert_problem(&edit, StatusCode::CONFLICT, "conflict", None);
    assert_eq!(stored_note(&app, note).await, before);

    // Altered behind the database's back, the verification says so.
    let mut tx = app.db.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("update clinical_notes set content = jsonb_set(content, '{plan}', '\"Discharge.\"') where id = $1")
        .bind(note)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let verification = app
        .get(&format!("/api/v1/notes/{note}/verification"), &author)
        .await;
    assert_eq!(verification.body["ok"], false, "{:?}", verification.body);
    assert_eq!(verification.body["versions"][0]["hash"], "altered");
    assert_eq!(
        verification.body["versions"][0]["signatures"][0]["result"],
        "over_other_content"
    );
    app.close().await;
}

#[tokio::test]
async fn amendments_and_addenda_are_new_versions_with_their_history_and_differences() {
    let app = TestApp::spawn().await;
    let author = clinician(&app, ORG_A, "LCSW").await;
    let colleague = clinician(&app, ORG_A, "PsyD").await;
    let encounter = an_encounter(&app, ORG_A).await;
    let v1 = id_of(&draft(&app, &author, encounter, soap("Weekly CBT.")).await);

    // A draft is edited, not amended.
    let early = post(
        &app,
        &format!("/api/v1/notes/{v1}/amendments"),
        &author,
        json!({"content": soap("x"), "reason": "r"}),
        &[],
    )
    .await;
    assert_problem(&early, StatusCode::CONFLICT, "conflict", None);
    assert_status(&sign(&app, &author, v1).await, StatusCode::OK);

    // Amendment: the corrected content and a reason, by the author only.
    let amendments = format!("/api/v1/notes/{v1}/amendments");
    let mut corrected = soap("Weekly CBT.\nSleep diary.");
    corrected["assessment"] = json!("Anxiety 5/10, improving.");
    let no_reason = post(
        &app,
        &amendments,
        &author,
        json!({"content": corrected, "reason": "  "}),
        &[],
    )
    .await;
    assert_problem(
        &no_reason,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("reason"),
    );
    let by_colleague = post(
        &app,
        &amendments,
        &colleague,
        json!({"content": corrected, "reason": "Wrong rating"}),
        &[],
    )
    .await;
    assert_problem(&by_colleague, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(stored_note(&app, v1).await.0, "signed");

    let amended = post(
        &app,
        &amendments,
        &author,
        json!({"content": corrected, "reason": "Wrong rating"}),
        &[],
    )
    .await;
    assert_status(&amended, StatusCode::CREATED);
    let v2 = id_of(&amended);
    assert_eq!(
        (
            amended.body["version"].as_i64(),
            amended.body["status"].as_str()
        ),
        (Some(2), Some("draft"))
    );
    assert_eq!(amended.body["change_kind"], "amendment");
    assert_eq!(amended.body["previous_version_id"], v1.to_string());
    assert_eq!(amended.body["lineage_id"], v1.to_string());
    let old = app.get(&format!("/api/v1/notes/{v1}"), &author).await;
    assert_eq!(
        (
            old.body["status"].as_str(),
            old.body["is_current"].as_bool()
        ),
        (Some("amended"), Some(false))
    );
    // The superseded version cannot be amended again, nor its content changed.
    let again = post(
        &app,
        &amendments,
        &author,
        json!({"content": corrected, "reason": "Again"}),
        &[],
    )
    .await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict", None);
    assert_status(&sign(&app, &author, v2).await, StatusCode::OK);

    // Addendum, signed in the same request: the content kept, the text added.
    let addenda = format!("/api/v1/notes/{v2}/addenda");
    let empty = post(
        &app,
        &addenda,
        &author,
        json!({"text": " ", "reason": "Call"}),
        &[],
    )
    .await;
    assert_problem(
        &empty,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("text"),
    );
    let added = post(&app, &addenda, &author, json!({"text": "Patient called: homework went well.", "reason": "Information received after signing", "sign": true}), &[("idempotency-key", "addendum-1")]).await;
    assert_status(&added, StatusCode::CREATED);
    let v3 = id_of(&added);
    assert_eq!(
        (
            added.body["version"].as_i64(),
            added.body["status"].as_str()
        ),
        (Some(3), Some("signed"))
    );
    assert_eq!(added.body["content"], corrected);
    assert_eq!(added.body["signatures"][0]["signature_type"], "author");
    assert_eq!(
        app.get(&format!("/api/v1/notes/{v2}"), &author).await.body["status"],
        "addended"
    );

    // History from any version: every version, who signed, and what changed.
    let history = app
        .get(&format!("/api/v1/notes/{v1}/history"), &colleague)
        .await;
    assert_status(&history, StatusCode::OK);
    assert_eq!(history.body["current_version_id"], v3.to_string());
    let versions = history.body["versions"].as_array().unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (
                v["version"].as_i64().unwrap(),
                v["status"].as_str().unwrap().to_owned()
            ))
            .collect::<Vec<_>>(),
        [
            (1, "amended".to_owned()),
            (2, "addended".to_owned()),
            (3, "signed".to_owned())
        ]
    );
    for version in versions {
        let signer = &version["signatures"][0];
        assert_eq!(signer["signature_type"], "author");
        assert!(
            signer["signer_name"].as_str().unwrap().ends_with(", LCSW"),
            "{signer:?}"
        );
        assert!(signer["signed_at"].is_string());
    }
    assert_eq!(versions[0]["changes"], json!([]));
    assert_eq!(versions[1]["change_reason"], "Wrong rating");
    assert_eq!(
        versions[1]["changes"],
        json!([
            {"section": "assessment", "lines": [
                {"change": "removed", "text": "Anxiety 6/10, improving."},
                {"change": "added", "text": "Anxiety 5/10, improving."}]},
            {"section": "plan", "lines": [
                {"change": "unchanged", "text": "Weekly CBT."},
                {"change": "added", "text": "Sleep diary."}]},
        ])
    );
    assert_eq!(
        versions[2]["changes"],
        json!([{"section": "addendum", "lines": [{"change": "added", "text": "Patient called: homework went well."}]}])
    );

    let verification = app
        .get(&format!("/api/v1/notes/{v3}/verification"), &author)
        .await;
    assert_eq!(verification.body["ok"], true, "{:?}", verification.body);
    assert_eq!(verification.body["versions"].as_array().unwrap().len(), 3);
    app.close().await;
}

#[tokio::test]
async fn a_supervised_clinicians_note_waits_in_the_supervisors_inbox_until_cosigned() {
    let app = TestApp::spawn().await;
    let supervised = clinician(&app, ORG_A, "LPC-A").await;
    let supervisor = clinician(&app, ORG_A, "PsyD").await;
    let colleague = clinician(&app, ORG_A, "LCSW").await;
    let supervisor_id = provider_id_of(&app, ORG_A, "PsyD").await;
    let supervised_id = provider_id_of(&app, ORG_A, "LPC-A").await;
    let supervisor_of: Option<Uuid> =
        sqlx::query_scalar("select supervisor_id from providers where id = $1")
            .bind(supervised_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        supervisor_of,
        Some(supervisor_id),
        "the demo's LPC-A is supervised by its PsyD"
    );

    let encounter = an_encounter(&app, ORG_A).await;
    let note = id_of(&draft(&app, &supervised, encounter, birp()).await);
    let inbox = |token: String| {
        let app = &app;
        async move {
            let page = app
                .get("/api/v1/notes/awaiting-cosignature?limit=200", &token)
                .await;
            assert_status(&page, StatusCode::OK);
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().parse::<Uuid>().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert!(
        !inbox(supervisor.clone()).await.contains(&note),
        "a draft waits for its author"
    );
    assert_problem(
        &post(
            &app,
            &format!("/api/v1/notes/{note}/cosign"),
            &supervisor,
            json!({}),
            &[],
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );

    // Signed (the server's key published on the way, without a startup call).
    let signed = sign(&app, &supervised, note).await;
    assert_status(&signed, StatusCode::OK);
    assert_eq!(signed.body["format"], "BIRP");
    assert_eq!(signed.body["awaiting_cosignature"], true);
    assert!(inbox(supervisor.clone()).await.contains(&note));
    assert!(
        !inbox(colleague.clone()).await.contains(&note),
        "only the supervisor's inbox"
    );

    let cosign = format!("/api/v1/notes/{note}/cosign");
    assert_problem(
        &post(&app, &cosign, &supervised, json!({}), &[]).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    // Another clinician's cosignature is not the supervisor's.
    let by_colleague = post(&app, &cosign, &colleague, json!({}), &[]).await;
    assert_status(&by_colleague, StatusCode::OK);
    assert_eq!(
        by_colleague.body["signatures"][1]["signature_type"],
        "cosigner"
    );
    assert_eq!(by_colleague.body["awaiting_cosignature"], true);
    assert!(inbox(supervisor.clone()).await.contains(&note));

    let by_supervisor = post(&app, &cosign, &supervisor, json!({}), &[]).await;
    assert_status(&by_supervisor, StatusCode::OK);
    let last = &by_supervisor.body["signatures"][2];
    assert_eq!(
        (
            last["signature_type"].as_str(),
            last["signer_provider_id"].as_str()
        ),
        (Some("supervisor"), Some(supervisor_id.to_string().as_str()))
    );
    assert_eq!(by_supervisor.body["awaiting_cosignature"], false);
    assert!(!inbox(supervisor.clone()).await.contains(&note));
    assert_problem(
        &post(&app, &cosign, &supervisor, json!({}), &[]).await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );

    let verification = app
        .get(&format!("/api/v1/notes/{note}/verification"), &supervisor)
        .await;
    assert_eq!(verification.body["ok"], true, "{:?}", verification.body);
    let results: Vec<&str> = verification.body["versions"][0]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["valid", "valid", "valid"]);
    app.close().await;
}

#[tokio::test]
async fn another_practice_and_roles_without_clinical_access_never_reach_a_note() {
    let app = TestApp::spawn().await;
    let author = clinician(&app, ORG_A, "LCSW").await;
    let encounter = an_encounter(&app, ORG_A).await;
    let note = id_of(&draft(&app, &author, encounter, soap("Weekly CBT.")).await);
    let signed = sign(&app, &author, note).await;
    assert_status(&signed, StatusCode::OK);
    let tag = etag(&signed);
    let before = stored_note(&app, note).await;

    // Another practice's clinician and admin: 404 for every route, whatever they send.
    let outsiders = [
        clinician(&app, ORG_B, "LCSW").await,
        clinician(&app, ORG_B, "PsyD").await,
        app.sign_in(&app.email_of(ORG_B, "admin").await).await,
    ];
    for token in &outsiders {
        for path in ["", "/history", "/verification"] {
            let answer = app.get(&format!("/api/v1/notes/{note}{path}"), token).await;
            assert_problem(&answer, StatusCode::NOT_FOUND, "not-found", None);
        }
        let edit = app
            .call(
                Method::PATCH,
                &format!("/api/v1/notes/{note}"),
                Some(token),
                Some(json!({"content": soap("x")})),
                &[("if-match", &tag)],
            )
            .await;
        assert_problem(&edit, StatusCode::NOT_FOUND, "not-found", None);
        for (path, body) in [
            ("sign", json!({})),
            ("cosign", json!({})),
            ("amendments", json!({"content": soap("x"), "reason": "r"})),
            ("addenda", json!({"text": "x", "reason": "r"})),
        ] {
            let answer = post(
                &app,
                &format!("/api/v1/notes/{note}/{path}"),
                token,
                body,
                &[],
            )
            .await;
            assert_problem(&answer, StatusCode::NOT_FOUND, "not-found", None);
        }
        let new = post(
            &app,
            &format!("/api/v1/encounters/{encounter}/notes"),
            token,
            json!({"content": soap("x")}),
            &[],
        )
        .await;
        assert_problem(&new, StatusCode::NOT_FOUND, "not-found", None);
        let inbox = app.get("/api/v1/notes/awaiting-cosignature", token).await;
        assert!(
            !inbox.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["id"] == note.to_string())
        );
    }

    // Billing never reads a note's text; the front desk neither reads nor signs one.
    let billing = app.sign_in(&app.email_of(ORG_A, "billing").await).await;
    let staff = app.sign_in(&app.email_of(ORG_A, "staff").await).await;
    for token in [&billing, &staff] {
        for path in ["", "/history", "/verification"] {
            let answer = app.get(&format!("/api/v1/notes/{note}{path}"), token).await;
            assert_problem(&answer, StatusCode::NOT_FOUND, "not-found", None);
        }
        let inbox = app.get("/api/v1/notes/awaiting-cosignature", token).await;
        assert_eq!(inbox.body["items"], json!([]), "{:?}", inbox.body);
        let new = post(
            &app,
            &format!("/api/v1/encounters/{encounter}/notes"),
            token,
            json!({"content": soap("x")}),
            &[],
        )
        .await;
        assert_problem(&new, StatusCode::FORBIDDEN, "forbidden", None);
    }
    let draft_note = id_of(&draft(&app, &author, encounter, soap("Another.")).await);
    for path in ["sign", "cosign"] {
        let answer = post(
            &app,
            &format!("/api/v1/notes/{draft_note}/{path}"),
            &staff,
            json!({}),
            &[],
        )
        .await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not-found", None);
        let answer = post(
            &app,
            &format!("/api/v1/notes/{note}/{path}"),
            &staff,
            json!({}),
            &[],
        )
        .await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not-found", None);
    }
    assert_eq!(stored_note(&app, draft_note).await.0, "draft");
    assert_eq!(stored_note(&app, note).await, before);
    let signatures: i64 =
        sqlx::query_scalar("select count(*) from note_signatures where note_id = any($1)")
            .bind(vec![note, draft_note])
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(signatures, 1, "only the author's signature");
    app.close().await;
}

#[tokio::test]
async fn the_signing_keys_are_public() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .call(Method::GET, "/api/v1/signing-keys", None, None, &[])
        .await;
    assert_eq!(anonymous.status, StatusCode::OK, "{:?}", anonymous.body);
    let ids: Vec<&str> = anonymous.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["key_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"indra-demo-key-1"),
        "the demo's key is published: {ids:?}"
    );
    app.close().await;
}
