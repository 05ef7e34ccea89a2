//! Signing and cosigning notes, the cosignature inbox, and the published signing keys.
//!
//! The server holds one Ed25519 key (`INDRA_SIGNING_KEY`, or generated once into the data
//! directory). Its public half is published in `indra_keys.signing_keys` under an id derived
//! from it, at startup ([`ensure_signing_key`]) and in any case before the first signature
//! that names it, so every signature stays verifiable after the key is rotated.

use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use indra_rules::clinical::note_signing::{
    SigningKey, note_content_hash, sign_note, signing_key_id, signing_time_text,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::drafts::why_unchanged;
use super::{Note, NoteStatus, NoteSummary, SignatureType, fetch_note, refused};
use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract::{Path, Query};
use crate::api::pagination::{Page, PageQuery, fetch_page};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;
use crate::state::AppState;

/// The server's note-signing key and its published id.
pub(crate) fn server_key(state: &AppState) -> (SigningKey, String) {
    let key = SigningKey::from_bytes(state.config.signing_key.expose());
    let id = signing_key_id(&key.verifying_key());
    (key, id)
}

/// Publishes the server's public signing key (once; again changes nothing) and returns its id.
/// Called when the server starts, so the key is listed before it signs anything.
///
/// The login role does it, through `app.register_signing_key`, the one function that may add a
/// published key: no signed-in user can, or they could make signatures of their own verify.
pub async fn ensure_signing_key(state: &AppState) -> anyhow::Result<String> {
    let (key, key_id) = server_key(state);
    // Not any user's request: the named door for the published keys.
    let mut tx = state.db.signing_keys_door().await?;
    sqlx::query("select app.register_signing_key($1, $2)")
        .bind(&key_id)
        .bind(key.verifying_key().as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(key_id)
}

/// The server's key, published before a signature names it: normally done at startup; done
/// here when it was not (a server embedded without `serve`, or a key just rotated).
async fn published_server_key(
    db: &mut CallerTx,
    state: &AppState,
) -> Result<(SigningKey, String), ApiError> {
    let (key, key_id) = server_key(state);
    let published: bool = sqlx::query_scalar(
        "select exists (select 1 from indra_keys.signing_keys where key_id = $1 and public_key = $2)",
    )
    .bind(&key_id)
    .bind(key.verifying_key().as_bytes().as_slice())
    .fetch_one(db.conn())
    .await?;
    if !published {
        ensure_signing_key(state).await?;
    }
    Ok((key, key_id))
}

/// Now, to the microsecond: what PostgreSQL stores, so the signed time is the stored time.
fn now_to_the_microsecond() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.microsecond() * 1000)
        .unwrap_or(now)
}

/// Signs a draft as its author, in the caller's transaction: the content hash and signing time
/// on the note, the author's signature beside it. Whoever is not the author changes nothing.
pub(crate) async fn sign_draft(
    db: &mut CallerTx,
    state: &AppState,
    draft: &Note,
) -> Result<Note, ApiError> {
    let hash = note_content_hash(&draft.identity(), &draft.content);
    let signed_at = now_to_the_microsecond();
    // Row-level security lets only the author update, and only a draft; `updated_at` makes
    // sure the content hashed is the content signed.
    let updated = sqlx::query(
        "update clinical_notes set status = 'signed', signed_at = $2, content_hash = $3
          where id = $1 and status = 'draft' and updated_at = $4",
    )
    .bind(draft.id)
    .bind(signed_at)
    .bind(&hash[..])
    .bind(draft.updated_at)
    .execute(db.conn())
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(match why_unchanged(db, draft).await? {
            ApiError::Conflict { .. } => ApiError::conflict(None, "the note is already signed"),
            other => other,
        });
    }
    add_signature(
        db,
        state,
        draft.id,
        draft.author_provider_id,
        SignatureType::Author,
        &hash,
        signed_at,
    )
    .await?;
    fetch_note(db, draft.id).await
}

/// Signs `hash` as `signer` and stores the signature.
async fn add_signature(
    db: &mut CallerTx,
    state: &AppState,
    note_id: Uuid,
    signer: Uuid,
    signature_type: SignatureType,
    hash: &[u8; 32],
    signed_at: OffsetDateTime,
) -> Result<(), ApiError> {
    let (key, key_id) = published_server_key(db, state).await?;
    let signature = sign_note(
        &key,
        hash,
        &signer.to_string(),
        signature_type.as_str(),
        &signing_time_text(signed_at),
    );
    // The policy admits only the caller's own provider as signer, and the trigger only the
    // right one for the type (the author; the author's supervisor; another clinician).
    sqlx::query(
        "insert into note_signatures (org_id, note_id, signer_provider_id, signature_type, content_hash,
                                      signature, signing_key_id, signed_at)
         values ($1, $2, $3, $4::signature_type, $5, $6, $7, $8)",
    )
    .bind(db.caller.org_id)
    .bind(note_id)
    .bind(signer)
    .bind(signature_type.as_str())
    .bind(&hash[..])
    .bind(&signature[..])
    .bind(&key_id)
    .bind(signed_at)
    .execute(db.conn())
    .await?;
    Ok(())
}

/// Signs a draft: its author only. The server computes the content hash and signs it with the
/// published key. `If-Match`, when sent, makes sure the version signed is the one reviewed.
#[utoipa::path(post, path = "/api/v1/notes/{id}/sign", tag = "notes",
    params(("id" = Uuid, Path, description = "The draft's id"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the version reviewed")),
    responses((status = 200, body = Note, headers(("ETag" = String))), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 412, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn sign(
    State(state): State<AppState>,
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Tagged<Note>, ApiError> {
    let draft = fetch_note(&mut db, id).await?;
    if headers.contains_key(axum::http::header::IF_MATCH) {
        require_if_match(&headers, &etag_of(&draft))?;
    }
    let note = sign_draft(&mut db, &state, &draft).await?;
    db.commit().await?;
    Ok(Tagged(note))
}

/// Cosigns a signed note: the author's supervisor signs as `supervisor` (the cosignature a
/// supervised clinician's note needs to be complete), any other clinician as `cosigner`.
#[utoipa::path(post, path = "/api/v1/notes/{id}/cosign", tag = "notes",
    params(("id" = Uuid, Path, description = "The signed note version's id")),
    responses((status = 200, body = Note, headers(("ETag" = String))), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn cosign(
    State(state): State<AppState>,
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Note>, ApiError> {
    let note = fetch_note(&mut db, id).await?;
    if note.status == NoteStatus::Draft {
        return Err(ApiError::conflict(
            None,
            "the author signs the note before it is cosigned",
        ));
    }
    if !note.is_current {
        return Err(ApiError::conflict(
            None,
            "this version has been superseded; cosign the note's current version",
        ));
    }
    // A cosigner vouches for the content as it is: never for content that no longer matches
    // what its author signed.
    let hash = note_content_hash(&note.identity(), &note.content);
    if note.content_hash.as_deref() != Some(hex::encode(hash).as_str()) {
        return Err(ApiError::conflict(
            None,
            "the note's content does not match its signed hash; see its verification",
        ));
    }
    let (me, supervisor): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "select (select app.provider_id()),
                (select p.supervisor_id from providers p where p.id = $1)",
    )
    .bind(note.author_provider_id)
    .fetch_one(db.conn())
    .await?;
    let Some(me) = me else {
        return Err(ApiError::Forbidden("only clinicians cosign notes".into()));
    };
    if me == note.author_provider_id {
        return Err(ApiError::Forbidden(
            "the author cannot cosign their own note".into(),
        ));
    }
    let signature_type = if supervisor == Some(me) {
        SignatureType::Supervisor
    } else {
        SignatureType::Cosigner
    };
    add_signature(
        &mut db,
        &state,
        note.id,
        me,
        signature_type,
        &hash,
        now_to_the_microsecond(),
    )
    .await
    .map_err(|e| refused(e, "only clinicians cosign notes"))?;
    let note = fetch_note(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(note))
}

/// A page of note versions.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NoteSummaryPage {
    pub items: Vec<NoteSummary>,
    pub next_cursor: Option<String>,
}

/// The caller's cosignature inbox: signed notes of the clinicians they supervise that still
/// wait for their cosignature, oldest first.
#[utoipa::path(get, path = "/api/v1/notes/awaiting-cosignature", tag = "notes", params(PageQuery),
    responses((status = 200, body = NoteSummaryPage), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn awaiting_cosignature(
    mut db: CallerTx,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Page<NoteSummary>>, ApiError> {
    let page = fetch_page(
        db.conn(),
        "select * from (
             select n.id, n.lineage_id, n.version, n.patient_id, n.encounter_id, n.author_provider_id,
                    n.format::text as format, n.change_kind::text as change_kind, n.signed_at, n.created_at
               from clinical_notes n
               join providers p on p.org_id = n.org_id and p.id = n.author_provider_id
              where n.status = 'signed' and p.requires_supervision
                and p.supervisor_id = (select app.provider_id())
                and not exists (select 1 from note_signatures s
                                 where s.org_id = n.org_id and s.note_id = n.id
                                   and s.signature_type = 'supervisor')) awaiting",
        &query,
    )
    .await?;
    db.commit().await?;
    Ok(axum::Json(page))
}

/// A public key that note signatures name.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SigningKeyInfo {
    /// The id signatures carry as `signing_key_id`.
    pub key_id: String,
    /// `Ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// When the server began signing with it.
    #[serde(with = "time::serde::rfc3339")]
    pub first_used_at: OffsetDateTime,
    /// The key this server signs with now.
    pub current: bool,
}

/// Every published key, oldest first (keys are few: the list is one page).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SigningKeyList {
    pub items: Vec<SigningKeyInfo>,
    pub next_cursor: Option<String>,
}

/// The public keys that verify note signatures, including retired ones: with them, anyone
/// holding an export proves a note was not altered after it was signed. Public: no sign-in.
#[utoipa::path(get, path = "/api/v1/signing-keys", tag = "notes",
    responses((status = 200, body = SigningKeyList)))]
pub async fn signing_keys(
    State(state): State<AppState>,
) -> Result<axum::Json<Page<SigningKeyInfo>>, ApiError> {
    let (_, current) = server_key(&state);
    let mut tx = state.db.signing_keys_door().await?;
    let keys = indra_db::clinical::published_keys(&mut tx)
        .await
        .map_err(super::from_db)?;
    tx.commit().await?;
    Ok(axum::Json(Page {
        items: keys
            .into_iter()
            .map(|k| SigningKeyInfo {
                current: k.key_id == current,
                key_id: k.key_id,
                algorithm: k.algorithm,
                public_key: BASE64.encode(&k.public_key),
                first_used_at: k.first_used_at,
            })
            .collect(),
        next_cursor: None,
    }))
}
