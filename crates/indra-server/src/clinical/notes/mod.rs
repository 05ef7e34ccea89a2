//! The legal record: note drafts, signing, cosigning, amendments and addenda, history, verification.
//!
//! Who may write, edit and sign a note, that a signed version never changes, that an amendment
//! or an addendum supersedes exactly the current signed version of the same author, and who may
//! give which signature are the database's rules (migrations 0005 and 0009); these handlers ask,
//! and explain its refusals. What the server adds is the cryptography: a signed version's
//! content hash (RFC 8785 canonical JSON, SHA-256) and an Ed25519 signature with the server's
//! key, whose public half is published (`GET /api/v1/signing-keys`) so that anyone holding an
//! export can prove a note unaltered (`GET /api/v1/notes/{id}/verification`, `indra notes verify`).

pub mod drafts;
pub mod signing;
pub mod versions;

use axum::Router;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use indra_rules::clinical::note_signing::NoteVersionIdentity;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::api::pagination::{Cursor, Positioned};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;
use crate::platform::providers::NoteFormatCode;
use crate::state::AppState;

pub use signing::ensure_signing_key;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/encounters/{id}/notes", post(drafts::create_note))
        .route(
            "/api/v1/notes/awaiting-cosignature",
            get(signing::awaiting_cosignature),
        )
        .route(
            "/api/v1/notes/{id}",
            get(drafts::get_note).patch(drafts::update_draft),
        )
        .route("/api/v1/notes/{id}/sign", post(signing::sign))
        .route("/api/v1/notes/{id}/cosign", post(signing::cosign))
        .route("/api/v1/notes/{id}/amendments", post(versions::amend))
        .route("/api/v1/notes/{id}/addenda", post(versions::add_addendum))
        .route("/api/v1/notes/{id}/history", get(versions::history))
        .route(
            "/api/v1/notes/{id}/verification",
            get(versions::verification),
        )
        .route("/api/v1/signing-keys", get(signing::signing_keys))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        drafts::create_note, drafts::get_note, drafts::update_draft,
        signing::sign, signing::cosign, signing::awaiting_cosignature, signing::signing_keys,
        versions::amend, versions::add_addendum, versions::history, versions::verification,
    ),
    components(schemas(
        Note, NoteStatus, ChangeKind, SignatureType, NoteSignature, NoteSummary,
        drafts::NewNote, drafts::NoteChange,
        signing::SigningKeyInfo, signing::NoteSummaryPage, signing::SigningKeyList,
        versions::Amendment, versions::Addendum, versions::NoteHistory, versions::HistoryVersion,
        versions::HistorySignature, versions::SectionChange, versions::ChangedLine,
        versions::NoteVerification, versions::VersionVerification, versions::SignatureVerification,
    )),
    tags((name = "notes", description = "Clinical notes, the legal record: drafts, signatures, amendments, addenda, verification"))
)]
struct NotesDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    NotesDoc::openapi()
}

/// Where a version of a note stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoteStatus {
    /// Being written; only its author sees changes through and signs it.
    Draft,
    /// Signed: part of the legal record, never changed again.
    Signed,
    /// Signed, then superseded by an amendment (a corrected version).
    Amended,
    /// Signed, then superseded by an addendum (the same content with added text).
    Addended,
}

impl TryFrom<String> for NoteStatus {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "draft" => Ok(Self::Draft),
            "signed" => Ok(Self::Signed),
            "amended" => Ok(Self::Amended),
            "addended" => Ok(Self::Addended),
            _ => Err(format!("unknown note status {text:?}")),
        }
    }
}

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Original,
    Amendment,
    Addendum,
}

impl TryFrom<String> for ChangeKind {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "original" => Ok(Self::Original),
            "amendment" => Ok(Self::Amendment),
            "addendum" => Ok(Self::Addendum),
            _ => Err(format!("unknown change kind {text:?}")),
        }
    }
}

/// Who a signature is from: the note's author; the author's supervisor (the cosignature a
/// pre-licensed clinician's note needs); or another clinician.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureType {
    Author,
    Supervisor,
    Cosigner,
}

impl SignatureType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Author => "author",
            Self::Supervisor => "supervisor",
            Self::Cosigner => "cosigner",
        }
    }
}

impl TryFrom<String> for SignatureType {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "author" => Ok(Self::Author),
            "supervisor" => Ok(Self::Supervisor),
            "cosigner" => Ok(Self::Cosigner),
            _ => Err(format!("unknown signature type {text:?}")),
        }
    }
}

/// One version of a clinical note.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Note {
    pub id: Uuid,
    /// The note across all its versions: the id of its first version.
    pub lineage_id: Uuid,
    /// 1 for the original, then one more per amendment or addendum.
    pub version: i32,
    /// This version is the note as it stands now (a draft or the latest signed version).
    pub is_current: bool,
    pub status: NoteStatus,
    pub patient_id: Uuid,
    pub encounter_id: Uuid,
    pub author_provider_id: Uuid,
    pub format: NoteFormatCode,
    /// One text per section of the format, e.g. for DAP
    /// `{"data": "...", "assessment": "...", "plan": "..."}`.
    #[schema(value_type = Object)]
    pub content: Value,
    pub change_kind: ChangeKind,
    /// Why the note was amended, or why the addendum was added.
    pub change_reason: Option<String>,
    /// The text an addendum adds to the unchanged original content.
    pub addendum_text: Option<String>,
    /// The version this one supersedes.
    pub previous_version_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signed_at: Option<OffsetDateTime>,
    /// SHA-256 (hex) over the canonical JSON (RFC 8785) of the content and identifying fields,
    /// computed when the version was signed. Signatures sign it.
    pub content_hash: Option<String>,
    /// Every signature of this version, in the order given.
    pub signatures: Vec<NoteSignature>,
    /// Signed by a clinician under supervision, and not yet cosigned by their supervisor: the
    /// note is not complete until it is.
    pub awaiting_cosignature: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Note {
    /// The fields of this version its content hash covers besides the content.
    pub fn identity(&self) -> NoteVersionIdentity {
        NoteVersionIdentity {
            note_id: self.id.to_string(),
            lineage_id: self.lineage_id.to_string(),
            version: self.version,
            patient_id: self.patient_id.to_string(),
            encounter_id: self.encounter_id.to_string(),
            author_provider_id: self.author_provider_id.to_string(),
            format: self.format.code().to_owned(),
            addendum_text: self.addendum_text.clone(),
        }
    }
}

/// A signature of a note version.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NoteSignature {
    pub id: Uuid,
    pub signer_provider_id: Uuid,
    #[sqlx(try_from = "String")]
    pub signature_type: SignatureType,
    /// The time the signature covers, to the microsecond.
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    /// The published key (`GET /api/v1/signing-keys`) that verifies it.
    pub signing_key_id: String,
    /// The Ed25519 signature (base64) over the content hash, the signer, the signature type
    /// and the time.
    #[sqlx(try_from = "Vec<u8>")]
    pub signature: Base64Bytes,
}

/// Bytes shown in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(value_type = String)]
#[serde(transparent)]
pub struct Base64Bytes(pub String);

impl From<Vec<u8>> for Base64Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(BASE64.encode(bytes))
    }
}

/// A note version in a list, without its content.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NoteSummary {
    pub id: Uuid,
    pub lineage_id: Uuid,
    pub version: i32,
    pub patient_id: Uuid,
    pub encounter_id: Uuid,
    pub author_provider_id: Uuid,
    #[sqlx(try_from = "String")]
    pub format: NoteFormatCode,
    #[sqlx(try_from = "String")]
    pub change_kind: ChangeKind,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Positioned for NoteSummary {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: Uuid,
    lineage_id: Uuid,
    version: i32,
    is_current: bool,
    #[sqlx(try_from = "String")]
    status: NoteStatus,
    patient_id: Uuid,
    encounter_id: Uuid,
    author_provider_id: Uuid,
    #[sqlx(try_from = "String")]
    format: NoteFormatCode,
    content: Value,
    #[sqlx(try_from = "String")]
    change_kind: ChangeKind,
    change_reason: Option<String>,
    addendum_text: Option<String>,
    previous_version_id: Option<Uuid>,
    signed_at: Option<OffsetDateTime>,
    content_hash: Option<Vec<u8>>,
    awaiting_cosignature: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// A note version as the caller may see it, with its signatures. Not found when it does not
/// exist, belongs to another organization, or the caller's role may not read notes (billing,
/// the front desk): row-level security answers all three the same way.
pub(crate) async fn fetch_note(db: &mut CallerTx, id: Uuid) -> Result<Note, ApiError> {
    let row: NoteRow = sqlx::query_as(
        "select n.id, n.lineage_id, n.version, n.is_current, n.status::text as status, n.patient_id,
                n.encounter_id, n.author_provider_id, n.format::text as format, n.content,
                n.change_kind::text as change_kind, n.change_reason, n.addendum_text,
                n.previous_version_id, n.signed_at, n.content_hash, n.created_at, n.updated_at,
                (n.status = 'signed' and coalesce(p.requires_supervision, false)
                 and not exists (select 1 from note_signatures s
                                  where s.org_id = n.org_id and s.note_id = n.id
                                    and s.signature_type = 'supervisor')) as awaiting_cosignature
           from clinical_notes n
           left join providers p on p.org_id = n.org_id and p.id = n.author_provider_id
          where n.id = $1",
    )
    .bind(id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)?;
    let signatures: Vec<NoteSignature> = sqlx::query_as(
        "select id, signer_provider_id, signature_type::text as signature_type, signed_at,
                signing_key_id, signature
           from note_signatures where note_id = $1 order by signed_at, id",
    )
    .bind(id)
    .fetch_all(db.conn())
    .await?;
    Ok(Note {
        id: row.id,
        lineage_id: row.lineage_id,
        version: row.version,
        is_current: row.is_current,
        status: row.status,
        patient_id: row.patient_id,
        encounter_id: row.encounter_id,
        author_provider_id: row.author_provider_id,
        format: row.format,
        content: row.content,
        change_kind: row.change_kind,
        change_reason: row.change_reason,
        addendum_text: row.addendum_text,
        previous_version_id: row.previous_version_id,
        signed_at: row.signed_at,
        content_hash: row.content_hash.map(hex::encode),
        signatures,
        awaiting_cosignature: row.awaiting_cosignature,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The database refused a row of the caller's own organization to their role (row-level
/// security): said in the clinic's words.
pub(crate) fn refused(error: ApiError, why: &str) -> ApiError {
    match error {
        ApiError::Forbidden(_) => ApiError::Forbidden(why.to_owned()),
        other => other,
    }
}

/// An error of the shared database code, answered like the handlers' own.
pub(crate) fn from_db(error: indra_db::Error) -> ApiError {
    match error {
        indra_db::Error::Database(e) => e.into(),
        other => ApiError::Internal(other.into()),
    }
}
