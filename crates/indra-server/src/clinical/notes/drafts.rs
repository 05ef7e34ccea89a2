//! Writing a note: a draft for an encounter, read and edited by its author until signed.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Note, NoteStatus, fetch_note, refused};
use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract::{Json, Path};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::error::ApiError;
use crate::platform::caller::CallerTx;
use crate::platform::providers::NoteFormatCode;

/// A new draft note.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewNote {
    /// `SOAP`, `DAP` or `BIRP`; the clinician's preferred format when left out.
    pub format: Option<NoteFormatCode>,
    /// Exactly the sections of the format, each a text: SOAP `subjective`, `objective`,
    /// `assessment`, `plan`; DAP `data`, `assessment`, `plan`; BIRP `behavior`,
    /// `intervention`, `response`, `plan`.
    #[schema(value_type = Object)]
    pub content: Value,
}

/// A change to a draft: only the fields sent change. Changing the format needs the new
/// format's sections in `content`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoteChange {
    pub format: Option<NoteFormatCode>,
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
}

/// Starts a draft note for an encounter, written by the calling clinician about the
/// encounter's patient (a group session gets one note per participant's encounter). Honours
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/encounters/{id}/notes", tag = "notes", request_body = NewNote,
    params(("id" = Uuid, Path, description = "The encounter's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Note, headers(("ETag" = String), ("Location" = String))),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_note(
    mut db: CallerTx,
    Path(encounter_id): Path<Uuid>,
    headers: HeaderMap,
    Json(new): Json<NewNote>,
) -> Result<Response, ApiError> {
    let key = match IdempotencyKey::claim(
        &mut db,
        &headers,
        &format!("POST /api/v1/encounters/{encounter_id}/notes"),
        &new,
    )
    .await?
    {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Fresh(key) => key,
    };
    let patient_id: Uuid = sqlx::query_scalar("select patient_id from encounters where id = $1")
        .bind(encounter_id)
        .fetch_optional(db.conn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let id = Uuid::new_v4();
    // The author is the caller's own provider record; the policy refuses anyone who is not a
    // clinician of this organization.
    sqlx::query(
        "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id,
                                     format, content)
         select $1, $2, $3, $4, me.id, $1,
                coalesce($5::note_format, me.preferred_note_format), $6
           from (select (select app.provider_id()) as id) caller
           left join providers me on me.org_id = $2 and me.id = caller.id",
    )
    .bind(id)
    .bind(db.caller.org_id)
    .bind(patient_id)
    .bind(encounter_id)
    .bind(new.format.map(NoteFormatCode::code))
    .bind(&new.content)
    .execute(db.conn())
    .await
    .map_err(|e| refused(e.into(), "only clinicians write notes"))?;
    let note = fetch_note(&mut db, id).await?;
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &note).await?;
    }
    db.commit().await?;
    Ok(created(note))
}

/// 201 with the new version, its ETag and where it lives.
pub(crate) fn created(note: Note) -> Response {
    let location = format!("/api/v1/notes/{}", note.id);
    let mut response = (StatusCode::CREATED, Tagged(note)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A version of a note, with its signatures. Clinicians and admins of the practice read notes;
/// billing and the front desk never see their text (404).
#[utoipa::path(get, path = "/api/v1/notes/{id}", tag = "notes",
    params(("id" = Uuid, Path, description = "The note version's id")),
    responses((status = 200, body = Note, headers(("ETag" = String))), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_note(mut db: CallerTx, Path(id): Path<Uuid>) -> Result<Tagged<Note>, ApiError> {
    let note = fetch_note(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(note))
}

/// Edits a draft (its author only). A signed note never changes: amend it or add an
/// addendum. Requires `If-Match`.
#[utoipa::path(patch, path = "/api/v1/notes/{id}", tag = "notes", request_body = NoteChange,
    params(("id" = Uuid, Path, description = "The draft's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Note, headers(("ETag" = String))), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 412, body = crate::error::Problem), (status = 422, body = crate::error::Problem),
              (status = 428, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_draft(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(change): Json<NoteChange>,
) -> Result<Tagged<Note>, ApiError> {
    let current = fetch_note(&mut db, id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    // Row-level security lets only the author update, and only a draft.
    let updated = sqlx::query(
        "update clinical_notes set format = coalesce($2::note_format, format), content = coalesce($3, content)
          where id = $1 and updated_at = $4",
    )
    .bind(id)
    .bind(change.format.map(NoteFormatCode::code))
    .bind(&change.content)
    .bind(current.updated_at)
    .execute(db.conn())
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(why_unchanged(&mut db, &current).await?);
    }
    let note = fetch_note(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(note))
}

/// Why an update of a draft by the guarded statement touched nothing: someone changed it since
/// it was read, it is signed, or the caller is not its author.
pub(crate) async fn why_unchanged(db: &mut CallerTx, read: &Note) -> Result<ApiError, ApiError> {
    let now = fetch_note(db, read.id).await?;
    Ok(if now.status != NoteStatus::Draft {
        ApiError::conflict(
            None,
            "the note is signed and cannot be changed; amend it or add an addendum",
        )
    } else if now.updated_at != read.updated_at {
        ApiError::PreconditionFailed
    } else {
        ApiError::Forbidden("only the author of a draft edits and signs it".into())
    })
}
