//! After signing: amendments and addenda (new versions that supersede the signed one), the
//! history of a note's versions with what changed between them, and the proof that none was
//! altered after it was signed.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use indra_db::clinical::{
    NoteVersionRecord, check_note_version, load_lineage, published_keys, verifying_keys,
};
use indra_rules::clinical::note_diff::{diff_lines, diff_note_sections};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::drafts::created;
use super::signing::sign_draft;
use super::{ChangeKind, Note, NoteStatus, SignatureType, fetch_note, from_db, refused};
use crate::api::extract::{Json, Path};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;
use crate::platform::providers::NoteFormatCode;
use crate::state::AppState;

/// A corrected version of a signed note.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amendment {
    /// The corrected note in full: exactly the sections of its format.
    #[schema(value_type = Object)]
    pub content: Value,
    /// Why the note is amended (kept with the new version).
    pub reason: String,
    /// The corrected version's format; the amended version's when left out.
    pub format: Option<NoteFormatCode>,
    /// Sign the new version in the same step; otherwise it is a draft for its author to
    /// review and sign.
    #[serde(default)]
    pub sign: bool,
}

/// Text added to a signed note, its content kept as it was signed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Addendum {
    /// The added text.
    pub text: String,
    /// Why it is added (kept with the new version).
    pub reason: String,
    /// Sign the new version in the same step; otherwise it is a draft to sign.
    #[serde(default)]
    pub sign: bool,
}

/// Amends the current signed version of a note (its author only): a new version with the
/// corrected content and the reason, which supersedes the signed one in the same transaction.
/// Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/notes/{id}/amendments", tag = "notes", request_body = Amendment,
    params(("id" = Uuid, Path, description = "The current signed version's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Note, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn amend(
    State(state): State<AppState>,
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(amendment): Json<Amendment>,
) -> Result<Response, ApiError> {
    let route = format!("POST /api/v1/notes/{id}/amendments");
    let key = match IdempotencyKey::claim(&mut db, &headers, &route, &amendment).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let previous = fetch_note(&mut db, id).await?;
    let version = NewVersion {
        kind: ChangeKind::Amendment,
        format: amendment.format.unwrap_or(previous.format),
        content: &amendment.content,
        reason: &amendment.reason,
        addendum_text: None,
    };
    let note = add_version(&mut db, &state, &previous, version, amendment.sign).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &note).await?;
    }
    db.commit().await?;
    Ok(created(note))
}

/// Adds an addendum to the current signed version of a note (its author only): a new version
/// with the original content unchanged, the added text and the reason. Honours
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/notes/{id}/addenda", tag = "notes", request_body = Addendum,
    params(("id" = Uuid, Path, description = "The current signed version's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Note, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn add_addendum(
    State(state): State<AppState>,
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(addendum): Json<Addendum>,
) -> Result<Response, ApiError> {
    let route = format!("POST /api/v1/notes/{id}/addenda");
    let key = match IdempotencyKey::claim(&mut db, &headers, &route, &addendum).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let previous = fetch_note(&mut db, id).await?;
    let version = NewVersion {
        kind: ChangeKind::Addendum,
        format: previous.format,
        content: &previous.content,
        reason: &addendum.reason,
        addendum_text: Some(addendum.text.trim()),
    };
    let note = add_version(&mut db, &state, &previous, version, addendum.sign).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &note).await?;
    }
    db.commit().await?;
    Ok(created(note))
}

struct NewVersion<'a> {
    kind: ChangeKind,
    format: NoteFormatCode,
    content: &'a Value,
    reason: &'a str,
    addendum_text: Option<&'a str>,
}

/// Inserts the version that supersedes `previous` (the database links it, flips the previous
/// version to amended or addended, and checks the author, in the same statement), and signs it
/// when asked.
async fn add_version(
    db: &mut CallerTx,
    state: &AppState,
    previous: &Note,
    version: NewVersion<'_>,
    sign: bool,
) -> Result<Note, ApiError> {
    if previous.status != NoteStatus::Signed || !previous.is_current {
        return Err(ApiError::conflict(
            None,
            match previous.status {
                NoteStatus::Draft => "a draft is not signed yet: edit it instead",
                _ => "this version has been superseded; amend the note's current version",
            },
        ));
    }
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id,
                                     format, content, change_kind, change_reason, addendum_text,
                                     previous_version_id)
         values ($1, $2, $3, $4, $5, $6, $7::note_format, $8, $9::note_change_kind, $10, $11, $12)",
    )
    .bind(id)
    .bind(db.caller.org_id)
    .bind(previous.patient_id)
    .bind(previous.encounter_id)
    .bind(previous.author_provider_id)
    .bind(previous.lineage_id)
    .bind(version.format.code())
    .bind(version.content)
    .bind(match version.kind {
        ChangeKind::Addendum => "addendum",
        _ => "amendment",
    })
    .bind(version.reason.trim())
    .bind(version.addendum_text)
    .bind(previous.id)
    .execute(db.conn())
    .await
    .map_err(|e| {
        refused(
            e.into(),
            "only the author of a note amends it or adds an addendum",
        )
    })?;
    let note = fetch_note(db, id).await?;
    if sign {
        sign_draft(db, state, &note).await
    } else {
        Ok(note)
    }
}

/// Every version of a note, oldest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoteHistory {
    pub lineage_id: Uuid,
    /// The version that is the note now.
    pub current_version_id: Option<Uuid>,
    pub versions: Vec<HistoryVersion>,
}

/// One version in a note's history, who signed it, and what changed from the version before.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryVersion {
    pub id: Uuid,
    pub version: i32,
    pub status: NoteStatus,
    pub is_current: bool,
    pub change_kind: ChangeKind,
    pub change_reason: Option<String>,
    pub addendum_text: Option<String>,
    pub format: NoteFormatCode,
    #[schema(value_type = Object)]
    pub content: Value,
    pub author_provider_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signed_at: Option<OffsetDateTime>,
    /// SHA-256 (hex) of the signed content and identifying fields.
    pub content_hash: Option<String>,
    pub signatures: Vec<HistorySignature>,
    /// The sections that differ from the previous version (and the addendum text, as section
    /// `addendum`), line by line; empty for the first version.
    pub changes: Vec<SectionChange>,
}

/// Who signed a version, as what, and when.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistorySignature {
    pub id: Uuid,
    pub signer_provider_id: Uuid,
    /// The signer's name and credentials as they are now, e.g. `Maya Chen, LCSW`.
    pub signer_name: String,
    pub signature_type: SignatureType,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    pub signing_key_id: String,
}

/// A section that changed between two versions.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SectionChange {
    /// The section key (`assessment`, ...), or `addendum` for an addendum's text.
    pub section: String,
    /// Every line of the section, old and new, in reading order.
    pub lines: Vec<ChangedLine>,
}

/// One line of a section's difference.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangedLine {
    /// `unchanged`, `added` or `removed`.
    pub change: String,
    pub text: String,
}

/// Every version of the note `id` belongs to (any version's id), who signed each and when,
/// and what changed between consecutive versions.
#[utoipa::path(get, path = "/api/v1/notes/{id}/history", tag = "notes",
    params(("id" = Uuid, Path, description = "The id of any version of the note")),
    responses((status = 200, body = NoteHistory), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn history(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<NoteHistory>, ApiError> {
    let records = load_lineage(db.conn(), id).await.map_err(from_db)?;
    let first = records.first().ok_or(ApiError::NotFound)?;
    let lineage_id = first.lineage_id;
    let signers: Vec<Uuid> = records
        .iter()
        .flat_map(|r| r.signatures.iter().map(|s| s.signer_provider_id))
        .collect();
    let names: HashMap<Uuid, String> = sqlx::query_as::<_, (Uuid, String)>(
        "select id, first_name || ' ' || last_name || ', ' || credentials from providers where id = any($1)",
    )
    .bind(&signers)
    .fetch_all(db.conn())
    .await?
    .into_iter()
    .collect();
    db.commit().await?;

    let mut versions = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| &records[i]);
        versions.push(history_version(record, previous, &names)?);
    }
    Ok(axum::Json(NoteHistory {
        lineage_id,
        current_version_id: records.iter().find(|r| r.is_current).map(|r| r.id),
        versions,
    }))
}

fn history_version(
    record: &NoteVersionRecord,
    previous: Option<&NoteVersionRecord>,
    names: &HashMap<Uuid, String>,
) -> Result<HistoryVersion, ApiError> {
    let format = stored(NoteFormatCode::try_from(record.format.clone()))?;
    let changes = previous
        .map(|previous| changes_between(previous, record, format))
        .transpose()?
        .unwrap_or_default();
    let signatures = record
        .signatures
        .iter()
        .map(|s| {
            Ok(HistorySignature {
                id: s.id,
                signer_provider_id: s.signer_provider_id,
                signer_name: names
                    .get(&s.signer_provider_id)
                    .cloned()
                    .unwrap_or_default(),
                signature_type: stored(SignatureType::try_from(s.signature_type.clone()))?,
                signed_at: s.signed_at,
                signing_key_id: s.signing_key_id.clone(),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(HistoryVersion {
        id: record.id,
        version: record.version,
        status: stored(NoteStatus::try_from(record.status.clone()))?,
        is_current: record.is_current,
        change_kind: stored(ChangeKind::try_from(record.change_kind.clone()))?,
        change_reason: record.change_reason.clone(),
        addendum_text: record.addendum_text.clone(),
        format,
        content: record.content.clone(),
        author_provider_id: record.author_provider_id,
        created_at: record.created_at,
        signed_at: record.signed_at,
        content_hash: record.content_hash.as_ref().map(hex::encode),
        signatures,
        changes,
    })
}

/// The sections that differ between two consecutive versions, in the reading order of the
/// newer version's format, then the addendum text when it differs.
fn changes_between(
    previous: &NoteVersionRecord,
    current: &NoteVersionRecord,
    format: NoteFormatCode,
) -> Result<Vec<SectionChange>, ApiError> {
    let previous_format = stored(NoteFormatCode::try_from(previous.format.clone()))?;
    let mut order: Vec<&str> = format.format().sections().to_vec();
    order.extend(
        previous_format
            .format()
            .sections()
            .iter()
            .filter(|s| !format.format().sections().contains(s)),
    );
    let mut changes: Vec<SectionChange> =
        diff_note_sections(&order, &previous.content, &current.content)
            .into_iter()
            .map(|diff| SectionChange {
                section: diff.section,
                lines: changed_lines(diff.lines),
            })
            .collect();
    let (old, new) = (
        previous.addendum_text.as_deref().unwrap_or(""),
        current.addendum_text.as_deref().unwrap_or(""),
    );
    if old != new {
        changes.push(SectionChange {
            section: "addendum".into(),
            lines: changed_lines(diff_lines(old, new)),
        });
    }
    Ok(changes)
}

fn changed_lines(lines: Vec<indra_rules::clinical::note_diff::DiffLine>) -> Vec<ChangedLine> {
    lines
        .into_iter()
        .map(|line| ChangedLine {
            change: line.change.as_str().to_owned(),
            text: line.text,
        })
        .collect()
}

/// A value the database stored that this code does not know: a bug, not the caller's fault.
fn stored<T>(parsed: Result<T, String>) -> Result<T, ApiError> {
    parsed.map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))
}

/// Whether every version of a note is intact and every signature valid.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoteVerification {
    pub lineage_id: Uuid,
    /// True when every version and every signature checks out.
    pub ok: bool,
    pub versions: Vec<VersionVerification>,
}

/// What verifying one version found.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionVerification {
    pub note_id: Uuid,
    pub version: i32,
    pub status: NoteStatus,
    pub ok: bool,
    /// `intact` (the content hashes to the signed hash), `altered` (it does not: changed after
    /// signing), `not_signed` (a draft) or `missing` (signed without a hash).
    pub hash: String,
    /// The content hash stored when it was signed (hex).
    pub signed_hash: Option<String>,
    /// The hash of the content and identifying fields as they are now (hex).
    pub recomputed_hash: String,
    /// What is wrong, one sentence each; empty when all is well.
    pub problems: Vec<String>,
    pub signatures: Vec<SignatureVerification>,
}

/// What checking one signature found.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignatureVerification {
    pub id: Uuid,
    pub signer_provider_id: Uuid,
    pub signature_type: SignatureType,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    pub signing_key_id: String,
    /// `valid`, `unknown_key` (no published key by that id), `over_other_content` (signed
    /// over another hash than the note's content has now) or `forged` (does not verify with
    /// the published key).
    pub result: String,
}

/// Recomputes every version's content hash from what is stored now and checks every signature
/// against the published keys: the proof that the note was not altered after signing.
#[utoipa::path(get, path = "/api/v1/notes/{id}/verification", tag = "notes",
    params(("id" = Uuid, Path, description = "The id of any version of the note")),
    responses((status = 200, body = NoteVerification), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn verification(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<NoteVerification>, ApiError> {
    let records = load_lineage(db.conn(), id).await.map_err(from_db)?;
    let lineage_id = records.first().ok_or(ApiError::NotFound)?.lineage_id;
    let keys = verifying_keys(&published_keys(db.conn()).await.map_err(from_db)?);
    db.commit().await?;
    let versions = records
        .iter()
        .map(|record| {
            let report = check_note_version(record, &keys);
            let problems = report.problems();
            Ok(VersionVerification {
                note_id: report.note_id,
                version: report.version,
                status: stored(NoteStatus::try_from(report.status.clone()))?,
                ok: problems.is_empty(),
                hash: report.hash.as_str().to_owned(),
                signed_hash: report.stored_hash.as_ref().map(hex::encode),
                recomputed_hash: hex::encode(report.recomputed_hash),
                problems,
                signatures: report
                    .signatures
                    .iter()
                    .map(|s| {
                        Ok(SignatureVerification {
                            id: s.signature_id,
                            signer_provider_id: s.signer_provider_id,
                            signature_type: stored(SignatureType::try_from(
                                s.signature_type.clone(),
                            ))?,
                            signed_at: s.signed_at,
                            signing_key_id: s.signing_key_id.clone(),
                            result: s.check.as_str().to_owned(),
                        })
                    })
                    .collect::<Result<_, ApiError>>()?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(axum::Json(NoteVerification {
        lineage_id,
        ok: versions.iter().all(|v| v.ok),
        versions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use indra_rules::clinical::note_diff::LineChange;

    #[test]
    fn line_changes_are_named_for_clients() {
        let lines = changed_lines(diff_lines("a\nb", "a\nc"));
        let names: Vec<&str> = lines.iter().map(|l| l.change.as_str()).collect();
        assert_eq!(names, ["unchanged", "removed", "added"]);
        assert_eq!(LineChange::Added.as_str(), "added");
    }
}
