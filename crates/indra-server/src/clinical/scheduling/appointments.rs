//! `/api/v1/appointments`: booking single and recurring appointments, rescheduling and
//! cancelling one occurrence, this and following, or a whole series, and the moves to no-show
//! and completed.
//!
//! No provider is double-booked: the exclusion constraint `appointments_no_double_booking`
//! decides. Each occurrence is written inside a savepoint, so that when the constraint refuses
//! one, the transaction goes on and the answer can name the appointment in the way (its id and
//! time), and a series can either be refused as a whole, listing every conflict, or booked on
//! its free dates (`skip_conflicts`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use indra_rules::clinical::recurrence::{self, RecurrenceRule, Zone};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::api::etag::{Tagged, etag_of, require_if_match};
use crate::api::extract::{Json, Path, present};
use crate::api::idempotency::{Claim, IdempotencyKey};
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;

/// The kind of session, as the seed lists them (shared by appointments and encounters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    IndividualTherapy,
    GroupTherapy,
    FamilyTherapy,
    Intake,
    Crisis,
    Telehealth,
    MedicationManagement,
}

impl SessionType {
    pub fn code(self) -> &'static str {
        match self {
            Self::IndividualTherapy => "individual_therapy",
            Self::GroupTherapy => "group_therapy",
            Self::FamilyTherapy => "family_therapy",
            Self::Intake => "intake",
            Self::Crisis => "crisis",
            Self::Telehealth => "telehealth",
            Self::MedicationManagement => "medication_management",
        }
    }
}

/// Where the session happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    InPerson,
    Video,
    AudioOnly,
}

impl Modality {
    pub fn code(self) -> &'static str {
        match self {
            Self::InPerson => "in_person",
            Self::Video => "video",
            Self::AudioOnly => "audio_only",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Appointment {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    /// individual_therapy, group_therapy, family_therapy, intake, crisis, telehealth,
    /// medication_management.
    pub appointment_type: String,
    /// in_person, video, audio_only.
    pub modality: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// scheduled, completed, cancelled, no_show.
    pub status: String,
    /// The first appointment of the series (which holds `recurrence_rule`); null for a single one.
    pub series_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub recurrence_rule: Option<Value>,
    pub location: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
    pub cancel_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub const APPOINTMENT_COLUMNS: &str = "id, patient_id, provider_id, appointment_type::text as appointment_type, \
     modality::text as modality, starts_at, ends_at, status::text as status, series_id, recurrence_rule, location, \
     cancelled_at, cancel_reason, created_at, updated_at";

/// A booking: one appointment, or a series when `recurrence_rule` is given.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewAppointment {
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    /// Default `individual_therapy`.
    pub appointment_type: Option<SessionType>,
    /// Default `in_person`.
    pub modality: Option<Modality>,
    /// The (first) start. Its local time in the practice's time zone is the series' time.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// The (first) end; every occurrence lasts as long.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub location: Option<String>,
    /// RFC 5545 terms: `{"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6, "BYDAY": ["TU"]}`
    /// (FREQ DAILY, WEEKLY or MONTHLY; COUNT or UNTIL). Expanded in the practice's time zone.
    #[schema(value_type = Option<Object>)]
    pub recurrence_rule: Option<Value>,
    /// For a series: book the free dates and report the others in `skipped`, instead of
    /// refusing the whole series when one date is taken.
    #[serde(default)]
    pub skip_conflicts: bool,
}

/// An appointment in the way.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConflictingAppointment {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
}

/// An occurrence that could not be booked (or moved), and what holds its time.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conflict {
    /// The occurrence's time, with the practice's UTC offset on that day.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// The provider's appointment at that time (null only if it was cancelled meanwhile).
    pub conflicts_with: Option<ConflictingAppointment>,
}

/// What a booking made: the appointments (for a series, in order; the first holds the rule),
/// and the dates skipped because the provider was already booked.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Booking {
    pub appointments: Vec<Appointment>,
    pub skipped: Vec<Conflict>,
}

/// The 409 answer to a double booking: a problem document with the conflicts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DoubleBookingProblem {
    #[serde(flatten)]
    pub problem: Problem,
    pub conflicts: Vec<Conflict>,
}

/// A handler's failure: any API error, or a double booking naming what is in the way.
pub enum SchedulingError {
    Api(ApiError),
    DoubleBooked {
        detail: String,
        conflicts: Vec<Conflict>,
    },
}

impl From<ApiError> for SchedulingError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<sqlx::Error> for SchedulingError {
    fn from(error: sqlx::Error) -> Self {
        Self::Api(error.into())
    }
}

impl IntoResponse for SchedulingError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(error) => error.into_response(),
            Self::DoubleBooked { detail, conflicts } => {
                let problem = ApiError::conflict(Some("starts_at"), detail).problem();
                let mut response = (
                    StatusCode::CONFLICT,
                    axum::Json(DoubleBookingProblem { problem, conflicts }),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                response
            }
        }
    }
}

/// The practice's time zone, in which recurrence and calendars are computed.
pub(crate) async fn practice_zone(db: &mut CallerTx) -> Result<Zone, ApiError> {
    let name: String = sqlx::query_scalar("select time_zone from organizations where id = $1")
        .bind(db.caller.org_id)
        .fetch_one(db.conn())
        .await?;
    Zone::named(&name).map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))
}

pub(super) async fn fetch_appointment(
    db: &mut CallerTx,
    id: Uuid,
) -> Result<Appointment, ApiError> {
    sqlx::query_as(&format!(
        "select {APPOINTMENT_COLUMNS} from appointments where id = $1"
    ))
    .bind(id)
    .fetch_optional(db.conn())
    .await?
    .ok_or(ApiError::NotFound)
}

fn is_double_booking(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .is_some_and(|c| c == "appointments_no_double_booking")
}

/// The provider's live appointment overlapping `[starts_at, ends_at)`, other than `except`.
async fn conflicting(
    conn: &mut PgConnection,
    provider_id: Uuid,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    except: Option<Uuid>,
) -> Result<Option<ConflictingAppointment>, ApiError> {
    let row: Option<(Uuid, OffsetDateTime, OffsetDateTime)> = sqlx::query_as(
        "select id, starts_at, ends_at from appointments
          where provider_id = $1 and status <> 'cancelled' and time_range && tstzrange($2, $3, '[)')
            and ($4::uuid is null or id <> $4)
          order by starts_at limit 1",
    )
    .bind(provider_id)
    .bind(starts_at)
    .bind(ends_at)
    .bind(except)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id, starts_at, ends_at)| ConflictingAppointment {
        id,
        starts_at,
        ends_at,
    }))
}

/// Runs one write in a savepoint. A double booking rolls back only that write and is answered
/// as the conflict (what is in the way); any other error ends the request.
async fn in_savepoint<F>(
    conn: &mut PgConnection,
    provider_id: Uuid,
    slot: (OffsetDateTime, OffsetDateTime),
    except: Option<Uuid>,
    zone: &Zone,
    write: F,
) -> Result<Result<Appointment, Conflict>, ApiError>
where
    F: for<'c> FnOnce(
        &'c mut PgConnection,
    ) -> futures_like::BoxFuture<'c, Result<Appointment, sqlx::Error>>,
{
    let mut savepoint = conn.begin().await?;
    match write(&mut savepoint).await {
        Ok(appointment) => {
            savepoint.commit().await?;
            Ok(Ok(appointment))
        }
        Err(error) if is_double_booking(&error) => {
            savepoint.rollback().await?;
            let conflicts_with = conflicting(conn, provider_id, slot.0, slot.1, except)
                .await?
                .map(|c| ConflictingAppointment {
                    starts_at: zone.local(c.starts_at),
                    ends_at: zone.local(c.ends_at),
                    ..c
                });
            Ok(Err(Conflict {
                starts_at: zone.local(slot.0),
                ends_at: zone.local(slot.1),
                conflicts_with,
            }))
        }
        Err(error) => Err(error.into()),
    }
}

/// A boxed future, without a dependency for it.
mod futures_like {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
}

fn describe(conflict: &Conflict) -> String {
    match &conflict.conflicts_with {
        Some(other) => format!(
            "appointment {} from {} to {}",
            other.id,
            rfc3339(other.starts_at),
            rfc3339(other.ends_at)
        ),
        None => "another appointment".to_owned(),
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn rule_error(error: &recurrence::RecurrenceError) -> ApiError {
    let field = match error.field() {
        Some("recurrence_rule") | None => "recurrence_rule".to_owned(),
        Some(part) => format!("recurrence_rule.{part}"),
    };
    ApiError::invalid(&field, error.to_string())
}

/// The wall-clock time of an instant in the practice's zone.
fn wall_clock(zone: &Zone, at: OffsetDateTime) -> PrimitiveDateTime {
    let local = zone.local(at);
    PrimitiveDateTime::new(local.date(), local.time())
}

/// Books an appointment, or a recurring series expanded in the practice's time zone (one row
/// per occurrence, in one transaction). A taken time is answered 409 naming the appointment in
/// the way; with `skip_conflicts` a series books its free dates and lists the others.
/// Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "scheduling", request_body = NewAppointment,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe creation")),
    responses((status = 201, body = Booking, headers(("ETag" = String, description = "of the first appointment"), ("Location" = String))),
              (status = 403, body = Problem),
              (status = 409, body = DoubleBookingProblem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn book_appointment(
    mut db: CallerTx,
    headers: HeaderMap,
    Json(new): Json<NewAppointment>,
) -> Result<Response, SchedulingError> {
    let key =
        match IdempotencyKey::claim(&mut db, &headers, "POST /api/v1/appointments", &new).await? {
            Claim::Replay(answer) => return Ok(answer),
            Claim::Fresh(key) => key,
        };
    if new.ends_at <= new.starts_at {
        return Err(ApiError::invalid("ends_at", "an appointment ends after it starts").into());
    }
    let zone = practice_zone(&mut db).await?;
    let length = new.ends_at - new.starts_at;
    let rule = new
        .recurrence_rule
        .as_ref()
        .map(RecurrenceRule::from_json)
        .transpose()
        .map_err(|e| rule_error(&e))?;
    // The occurrences' starts: one, or the series in the practice's zone.
    let starts: Vec<OffsetDateTime> = match &rule {
        None => vec![new.starts_at],
        Some(rule) => recurrence::expand(rule, wall_clock(&zone, new.starts_at), &zone)
            .map_err(|e| rule_error(&e))?
            .into_iter()
            .map(|o| o.starts_at)
            .collect(),
    };
    let appointment_type = new
        .appointment_type
        .unwrap_or(SessionType::IndividualTherapy)
        .code();
    let modality = new.modality.unwrap_or(Modality::InPerson).code();
    let location = new.location.as_deref().map(str::trim);
    let stored_rule = rule.as_ref().map(RecurrenceRule::to_json);
    let org_id = db.caller.org_id;

    let mut booked: Vec<Appointment> = Vec::new();
    let mut skipped: Vec<Conflict> = Vec::new();
    for starts_at in starts {
        let ends_at = starts_at + length;
        let id = Uuid::new_v4();
        // The first occurrence booked heads the series: its id is the series id, it holds the rule.
        let (series_id, rule_here) = match (&stored_rule, booked.first()) {
            (None, _) => (None, None),
            (Some(rule), None) => (Some(id), Some(rule.clone())),
            (Some(_), Some(head)) => (head.series_id, None),
        };
        let sql = format!(
            "insert into appointments (id, org_id, patient_id, provider_id, appointment_type, modality, starts_at,
                                       ends_at, series_id, recurrence_rule, location)
             values ($1, $2, $3, $4, $5::encounter_type, $6::session_modality, $7, $8, $9, $10, $11)
             returning {APPOINTMENT_COLUMNS}"
        );
        let (patient_id, provider_id) = (new.patient_id, new.provider_id);
        let location = location.map(str::to_owned);
        let outcome = in_savepoint(
            db.conn(),
            provider_id,
            (starts_at, ends_at),
            None,
            &zone,
            move |conn| {
                Box::pin(async move {
                    sqlx::query_as(&sql)
                        .bind(id)
                        .bind(org_id)
                        .bind(patient_id)
                        .bind(provider_id)
                        .bind(appointment_type)
                        .bind(modality)
                        .bind(starts_at)
                        .bind(ends_at)
                        .bind(series_id)
                        .bind(rule_here)
                        .bind(location)
                        .fetch_one(conn)
                        .await
                })
            },
        )
        .await?;
        match outcome {
            Ok(appointment) => booked.push(appointment),
            Err(conflict) => skipped.push(conflict),
        }
    }
    if !skipped.is_empty() && (!new.skip_conflicts || booked.is_empty() || rule.is_none()) {
        let detail = match (&rule, skipped.as_slice()) {
            (None, [only]) => format!(
                "the provider already has an appointment at that time: {}",
                describe(only)
            ),
            _ => format!(
                "{} of the series' {} dates are taken by the provider's other appointments \
                 (first: {} at {}); send \"skip_conflicts\": true to book the free dates",
                skipped.len(),
                skipped.len() + booked.len(),
                describe(&skipped[0]),
                rfc3339(skipped[0].starts_at),
            ),
        };
        return Err(SchedulingError::DoubleBooked {
            detail,
            conflicts: skipped,
        });
    }
    let booking = Booking {
        appointments: booked,
        skipped,
    };
    if let Some(key) = &key {
        key.store(&mut db, StatusCode::CREATED, &booking).await?;
    }
    db.commit().await?;
    let first = booking.appointments.first().map(|a| (a.id, etag_of(a)));
    let mut response = (StatusCode::CREATED, axum::Json(booking)).into_response();
    if let Some((id, tag)) = first {
        if let Ok(value) = HeaderValue::from_str(&format!("/api/v1/appointments/{id}")) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        if let Ok(value) = HeaderValue::from_str(&tag) {
            response.headers_mut().insert(header::ETAG, value);
        }
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "scheduling",
    params(("id" = Uuid, Path, description = "The appointment's id")),
    responses((status = 200, body = Appointment, headers(("ETag" = String))), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_appointment(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
) -> Result<Tagged<Appointment>, ApiError> {
    let appointment = fetch_appointment(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(appointment))
}

/// Which appointments of a series a change applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesScope {
    /// This occurrence only.
    #[default]
    This,
    /// This one and the later ones (the series is split in two here).
    ThisAndFollowing,
    /// Every scheduled occurrence of the series.
    All,
}

/// A change to an appointment: only the fields sent change (`location` is cleared with
/// `null`). Times move a series by the same local shift: moving one Tuesday 3 pm to Wednesday
/// 4 pm with scope `all` moves every occurrence to Wednesday 4 pm local time, across
/// daylight-saving changes.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppointmentChange {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    pub appointment_type: Option<SessionType>,
    pub modality: Option<Modality>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// For an appointment of a series: `this` (default), `this_and_following` or `all`.
    #[serde(default)]
    pub scope: SeriesScope,
}

/// The appointments of `current`'s series a change with `scope` applies to, `current` first,
/// then the rest in the order they may be moved without bumping into each other.
async fn scoped(
    db: &mut CallerTx,
    current: &Appointment,
    scope: SeriesScope,
) -> Result<Vec<Appointment>, ApiError> {
    let Some(series_id) = current.series_id.filter(|_| scope != SeriesScope::This) else {
        return Ok(vec![current.clone()]);
    };
    let others: Vec<Appointment> = sqlx::query_as(&format!(
        "select {APPOINTMENT_COLUMNS} from appointments
          where series_id = $1 and id <> $2 and status = 'scheduled' and ($3 or starts_at > $4)
          order by starts_at, id"
    ))
    .bind(series_id)
    .bind(current.id)
    .bind(scope == SeriesScope::All)
    .bind(current.starts_at)
    .fetch_all(db.conn())
    .await?;
    Ok(std::iter::once(current.clone()).chain(others).collect())
}

/// Reschedules or changes an appointment, or (with `scope`) part or all of its series.
/// Requires `If-Match` (the ETag of the appointment addressed). A new time that is taken is
/// answered 409 naming the appointment in the way; nothing changes then.
#[utoipa::path(patch, path = "/api/v1/appointments/{id}", tag = "scheduling", request_body = AppointmentChange,
    params(("id" = Uuid, Path, description = "The appointment's id"),
           ("If-Match" = String, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Appointment, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = DoubleBookingProblem),
              (status = 412, body = Problem), (status = 422, body = Problem), (status = 428, body = Problem)),
    security(("bearer" = [])))]
pub async fn change_appointment(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(change): Json<AppointmentChange>,
) -> Result<Tagged<Appointment>, SchedulingError> {
    let current = fetch_appointment(&mut db, id).await?;
    require_if_match(&headers, &etag_of(&current))?;
    let zone = practice_zone(&mut db).await?;
    let new_start = change.starts_at.unwrap_or(current.starts_at);
    let new_end = match (change.starts_at, change.ends_at) {
        (_, Some(end)) => end,
        // A new start alone keeps the length.
        (Some(start), None) => start + (current.ends_at - current.starts_at),
        (None, None) => current.ends_at,
    };
    if new_end <= new_start {
        return Err(ApiError::invalid("ends_at", "an appointment ends after it starts").into());
    }
    let length = new_end - new_start;
    let old_wall = wall_clock(&zone, current.starts_at);
    let new_wall = wall_clock(&zone, new_start);
    let day_shift = (new_wall.date() - old_wall.date()).whole_days();
    let moves = change.starts_at.is_some() || change.ends_at.is_some();

    let mut targets = scoped(&mut db, &current, change.scope).await?;
    // Later first when moving later, earlier first when moving earlier: an occurrence never
    // lands on a sibling that has not moved yet.
    if new_start > current.starts_at {
        targets[1..].sort_by_key(|b| std::cmp::Reverse(b.starts_at));
    }
    let series_head = current.series_id;
    let split = change.scope == SeriesScope::ThisAndFollowing
        && series_head.is_some_and(|head| head != current.id);
    let org_id = db.caller.org_id;

    let mut updated: Vec<Appointment> = Vec::new();
    let mut conflicts: Vec<Conflict> = Vec::new();
    for target in &targets {
        let (starts_at, ends_at) = if !moves {
            (target.starts_at, target.ends_at)
        } else if target.id == current.id {
            (new_start, new_end)
        } else {
            let wall = wall_clock(&zone, target.starts_at);
            let local =
                PrimitiveDateTime::new(wall.date() + Duration::days(day_shift), new_wall.time());
            let starts_at = zone.resolve(local).map_err(|e| rule_error(&e))?;
            (starts_at, starts_at + length)
        };
        let guard = (target.id == current.id).then_some(current.updated_at);
        let sql = format!(
            "update appointments set
                 starts_at = $2, ends_at = $3,
                 appointment_type = coalesce($4::encounter_type, appointment_type),
                 modality = coalesce($5::session_modality, modality),
                 location = case when $6 then $7 else location end
              where id = $1 and org_id = $8 and ($9::timestamptz is null or updated_at = $9)
              returning {APPOINTMENT_COLUMNS}"
        );
        let (target_id, provider_id) = (target.id, target.provider_id);
        let appointment_type = change.appointment_type.map(SessionType::code);
        let modality = change.modality.map(Modality::code);
        let location = change
            .location
            .as_ref()
            .map(|l| l.as_deref().map(str::trim).map(str::to_owned));
        let outcome = in_savepoint(
            db.conn(),
            provider_id,
            (starts_at, ends_at),
            Some(target_id),
            &zone,
            move |conn| {
                Box::pin(async move {
                    sqlx::query_as(&sql)
                        .bind(target_id)
                        .bind(starts_at)
                        .bind(ends_at)
                        .bind(appointment_type)
                        .bind(modality)
                        .bind(location.is_some())
                        .bind(location.flatten())
                        .bind(org_id)
                        .bind(guard)
                        .fetch_one(conn)
                        .await
                })
            },
        )
        .await;
        match outcome {
            Ok(Ok(appointment)) => updated.push(appointment),
            Ok(Err(conflict)) => conflicts.push(conflict),
            // No row: changed by someone else since it was read, or the caller may read but
            // not change appointments.
            Err(ApiError::NotFound) if target.id == current.id => {
                return Err(
                    if etag_of(&fetch_appointment(&mut db, id).await?) != etag_of(&current) {
                        ApiError::PreconditionFailed
                    } else {
                        ApiError::Forbidden("your role may not change appointments".into())
                    }
                    .into(),
                );
            }
            Err(error) => return Err(error.into()),
        }
    }
    if !conflicts.is_empty() {
        let detail = format!(
            "the provider already has an appointment at {} of the new times: {}",
            if conflicts.len() == 1 { "one" } else { "some" },
            describe(&conflicts[0])
        );
        return Err(SchedulingError::DoubleBooked { detail, conflicts });
    }

    if let Some(head_id) = series_head {
        reshape_series(
            &mut db,
            head_id,
            &current,
            change.scope,
            split,
            day_shift,
            &zone,
        )
        .await?;
    }
    let answer = fetch_appointment(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(answer))
}

/// Keeps the stored rules true to the rows after a series change: "this and following" splits
/// the series at `current` (which heads the second part, with the rule, ending where each part
/// now ends); a change of days moves BYDAY.
async fn reshape_series(
    db: &mut CallerTx,
    head_id: Uuid,
    current: &Appointment,
    scope: SeriesScope,
    split: bool,
    day_shift: i64,
    zone: &Zone,
) -> Result<(), ApiError> {
    if scope == SeriesScope::This {
        return Ok(());
    }
    let head = fetch_appointment(db, head_id).await?;
    let Some(rule) = head
        .recurrence_rule
        .as_ref()
        .and_then(|r| RecurrenceRule::from_json(r).ok())
    else {
        return Ok(());
    };
    let last_day = |at: Option<OffsetDateTime>| at.map(|at| zone.local(at).date());
    if split {
        sqlx::query(
            "update appointments set series_id = $2 where series_id = $1 and starts_at >= $3",
        )
        .bind(head_id)
        .bind(current.id)
        .bind(current.starts_at)
        .execute(db.conn())
        .await?;
        for (series, moved) in [(head_id, 0), (current.id, day_shift)] {
            let last: Option<OffsetDateTime> =
                sqlx::query_scalar("select max(starts_at) from appointments where series_id = $1")
                    .bind(series)
                    .fetch_one(db.conn())
                    .await?;
            let part = rule.shifted_by_days(moved);
            let part = match last_day(last) {
                Some(day) => part.ending_on(day),
                None => part,
            };
            sqlx::query("update appointments set recurrence_rule = $2 where id = $1")
                .bind(series)
                .bind(part.to_json())
                .execute(db.conn())
                .await?;
        }
    } else if day_shift != 0 {
        sqlx::query("update appointments set recurrence_rule = $2 where id = $1")
            .bind(head_id)
            .bind(rule.shifted_by_days(day_shift).to_json())
            .execute(db.conn())
            .await?;
    }
    Ok(())
}

/// Why an appointment is cancelled, and which of its series.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cancellation {
    /// Shown on the schedule ("Client called to reschedule").
    pub reason: String,
    #[serde(default)]
    pub scope: SeriesScope,
}

/// Cancels an appointment, or (with `scope`) the scheduled appointments of its series from it
/// on, or all of them. The time is free again. `If-Match` is optional: when sent it must be
/// current; the status machine refuses cancelling what is no longer scheduled (422).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "scheduling", request_body = Cancellation,
    params(("id" = Uuid, Path, description = "The appointment's id"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the version being cancelled")),
    responses((status = 200, body = Appointment, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn cancel_appointment(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(cancellation): Json<Cancellation>,
) -> Result<Tagged<Appointment>, ApiError> {
    let current = fetch_appointment(&mut db, id).await?;
    if headers.contains_key(header::IF_MATCH) {
        require_if_match(&headers, &etag_of(&current))?;
    }
    // Cancelling again would rewrite when and why it was cancelled; the status machine sees no
    // move there, so it is refused here.
    if current.status == "cancelled" {
        return Err(ApiError::invalid(
            "status",
            "the appointment is already cancelled",
        ));
    }
    let reason = cancellation.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::invalid(
            "reason",
            "say why the appointment is cancelled",
        ));
    }
    let ids: Vec<Uuid> = scoped(&mut db, &current, cancellation.scope)
        .await?
        .iter()
        .map(|a| a.id)
        .collect();
    let changed = sqlx::query(
        "update appointments set status = 'cancelled', cancelled_at = now(), cancel_reason = $2
          where id = any($1)",
    )
    .bind(&ids)
    .bind(reason)
    .execute(db.conn())
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(ApiError::Forbidden(
            "your role may not change appointments".into(),
        ));
    }
    let answer = fetch_appointment(&mut db, id).await?;
    db.commit().await?;
    Ok(Tagged(answer))
}

async fn move_status(
    db: &mut CallerTx,
    id: Uuid,
    headers: &HeaderMap,
    status: &str,
) -> Result<Appointment, ApiError> {
    let current = fetch_appointment(db, id).await?;
    if headers.contains_key(header::IF_MATCH) {
        require_if_match(headers, &etag_of(&current))?;
    }
    sqlx::query_as(&format!(
        "update appointments set status = $2::appointment_status where id = $1 returning {APPOINTMENT_COLUMNS}"
    ))
    .bind(id)
    .bind(status)
    .fetch_optional(db.conn())
    .await?
    .ok_or_else(|| ApiError::Forbidden("your role may not change appointments".into()))
}

/// The client did not come. Only a scheduled appointment moves (422 otherwise).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/no-show", tag = "scheduling",
    params(("id" = Uuid, Path, description = "The appointment's id"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Appointment, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn mark_no_show(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Tagged<Appointment>, ApiError> {
    let answer = move_status(&mut db, id, &headers, "no_show").await?;
    db.commit().await?;
    Ok(Tagged(answer))
}

/// The session took place. (Completing the appointment's encounter does this too.)
#[utoipa::path(post, path = "/api/v1/appointments/{id}/complete", tag = "scheduling",
    params(("id" = Uuid, Path, description = "The appointment's id"),
           ("If-Match" = Option<String>, Header, description = "The ETag of the version being changed")),
    responses((status = 200, body = Appointment, headers(("ETag" = String))), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn complete_appointment(
    mut db: CallerTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Tagged<Appointment>, ApiError> {
    let answer = move_status(&mut db, id, &headers, "completed").await?;
    db.commit().await?;
    Ok(Tagged(answer))
}
