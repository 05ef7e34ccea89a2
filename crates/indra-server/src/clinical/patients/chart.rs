//! `GET /api/v1/patients/{id}/chart`: what a clinician reads before a session, in one call.
//!
//! One query per part, each a single round trip (no query per row), all in the caller's
//! transaction, so row-level security decides what each role gets: a part the caller's role may
//! not see is an empty list (or `null`), never an error. Billing gets no medications and no
//! treatment plan; the front desk gets no diagnoses, medications or treatment plan. Everyone
//! gets each encounter's note status (from `clinical_note_statuses`, which never holds note text).

use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::demographics::{Patient, fetch_patient};
use super::diagnoses::{DIAGNOSIS_COLUMNS, Diagnosis};
use super::iso_date;
use crate::api::extract::Path;
use crate::error::ApiError;
use crate::platform::caller::CallerTx;

/// Upcoming appointments shown.
pub const UPCOMING_APPOINTMENTS: i64 = 5;
/// Recent encounters shown.
pub const RECENT_ENCOUNTERS: i64 = 10;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Chart {
    pub patient: Patient,
    /// Active diagnoses, the primary one first. Empty for the front desk.
    pub diagnoses: Vec<Diagnosis>,
    /// Active medications. Empty for billing and the front desk.
    pub medications: Vec<ChartMedication>,
    /// The next scheduled appointments, soonest first (at most 5).
    pub upcoming_appointments: Vec<ChartAppointment>,
    /// The latest encounters, most recent first (at most 10), each with its note's status.
    pub recent_encounters: Vec<ChartEncounter>,
    /// The current treatment plan (the latest effective one). `null` when there is none, and for
    /// billing and the front desk.
    pub treatment_plan: Option<ChartTreatmentPlan>,
    /// Active coverage, primary first, with the payer's authorization and its usage.
    pub insurance: Vec<ChartCoverage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChartMedication {
    pub id: Uuid,
    pub name: String,
    pub dose: Option<String>,
    pub route: Option<String>,
    pub frequency: Option<String>,
    pub instructions: Option<String>,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub started_on: Date,
    pub prescriber_provider_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChartAppointment {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub appointment_type: String,
    pub modality: String,
    pub location: Option<String>,
    pub provider_id: Uuid,
    /// "First Last, credentials".
    pub provider_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChartEncounter {
    pub id: Uuid,
    pub encounter_type: String,
    pub modality: String,
    /// `scheduled`, `in_progress` or `completed`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub duration_minutes: Option<i32>,
    pub provider_id: Uuid,
    pub provider_name: String,
    /// The current version of the encounter's note; `null` when no note was started.
    pub note_id: Option<Uuid>,
    /// `draft` or `signed` (the current version's status); `null` without a note.
    pub note_status: Option<String>,
    pub note_version: Option<i32>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub note_signed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChartTreatmentPlan {
    pub id: Uuid,
    pub version: i32,
    /// `draft` or `signed`.
    pub status: String,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub effective_on: Date,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub review_due_on: Date,
    /// The review date is today or past.
    pub review_due: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChartCoverage {
    pub id: Uuid,
    /// `primary`, `secondary` or `tertiary`.
    pub priority: String,
    pub payer_name: String,
    pub member_id: String,
    pub authorization_number: Option<String>,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub authorization_end: Option<Date>,
    /// Sessions the payer authorized; `null` when no authorization applies.
    pub authorized_sessions: Option<i32>,
    pub sessions_used: i32,
    /// `sessions_used` as a percentage of `authorized_sessions`, rounded to a whole number.
    pub sessions_used_percent: Option<i32>,
}

/// The patient's chart.
#[utoipa::path(get, path = "/api/v1/patients/{id}/chart", tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id")),
    responses((status = 200, body = Chart), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_chart(mut db: CallerTx, Path(id): Path<Uuid>) -> Result<Json<Chart>, ApiError> {
    let chart = load_chart(db.conn(), id).await?;
    db.commit().await?;
    Ok(Json(chart))
}

/// The chart as the connection's caller may see it: seven queries, one per part.
pub async fn load_chart(conn: &mut PgConnection, patient_id: Uuid) -> Result<Chart, ApiError> {
    let patient = fetch_patient(&mut *conn, patient_id).await?;
    let diagnoses: Vec<Diagnosis> = sqlx::query_as(&format!(
        "select {DIAGNOSIS_COLUMNS} from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code
          where d.patient_id = $1 and d.status = 'active'
          order by d.is_primary desc, d.diagnosed_on, d.created_at"
    ))
    .bind(patient_id)
    .fetch_all(&mut *conn)
    .await?;
    let medications: Vec<ChartMedication> = sqlx::query_as(
        "select id, name, dose, route, frequency, instructions, started_on, prescriber_provider_id
           from medications where patient_id = $1 and status = 'active'
          order by started_on, name",
    )
    .bind(patient_id)
    .fetch_all(&mut *conn)
    .await?;
    let upcoming_appointments: Vec<ChartAppointment> = sqlx::query_as(
        "select a.id, a.starts_at, a.ends_at, a.appointment_type::text as appointment_type,
                a.modality::text as modality, a.location, a.provider_id,
                p.first_name || ' ' || p.last_name || ', ' || p.credentials as provider_name
           from appointments a join providers p on p.org_id = a.org_id and p.id = a.provider_id
          where a.patient_id = $1 and a.status = 'scheduled' and a.starts_at >= now()
          order by a.starts_at limit $2",
    )
    .bind(patient_id)
    .bind(UPCOMING_APPOINTMENTS)
    .fetch_all(&mut *conn)
    .await?;
    let recent_encounters: Vec<ChartEncounter> = sqlx::query_as(
        "select e.id, e.encounter_type::text as encounter_type, e.modality::text as modality,
                e.status::text as status, e.started_at, e.ended_at, e.duration_minutes, e.provider_id,
                p.first_name || ' ' || p.last_name || ', ' || p.credentials as provider_name,
                n.id as note_id, n.status::text as note_status, n.version as note_version,
                n.signed_at as note_signed_at
           from encounters e
           join providers p on p.org_id = e.org_id and p.id = e.provider_id
           left join lateral (
               select s.id, s.status, s.version, s.signed_at from clinical_note_statuses s
                where s.encounter_id = e.id and s.is_current
                order by s.version desc limit 1) n on true
          where e.patient_id = $1
          order by coalesce(e.started_at, e.scheduled_start, e.created_at) desc, e.id
          limit $2",
    )
    .bind(patient_id)
    .bind(RECENT_ENCOUNTERS)
    .fetch_all(&mut *conn)
    .await?;
    let treatment_plan: Option<ChartTreatmentPlan> = sqlx::query_as(
        "select id, version, status::text as status, effective_on, review_due_on,
                review_due_on <= current_date as review_due
           from treatment_plans where patient_id = $1 and is_current
          order by effective_on desc, created_at desc limit 1",
    )
    .bind(patient_id)
    .fetch_optional(&mut *conn)
    .await?;
    let insurance: Vec<ChartCoverage> = sqlx::query_as(
        "select i.id, i.priority::text as priority, p.name as payer_name, i.member_id, i.authorization_number,
                i.authorization_end, i.authorized_sessions, i.sessions_used,
                case when i.authorized_sessions > 0
                     then round(100.0 * i.sessions_used / i.authorized_sessions)::int end as sessions_used_percent
           from patient_insurance i
           join insurance_payers p on p.org_id = i.org_id and p.id = i.insurance_payer_id
          where i.patient_id = $1 and i.is_active
          order by i.priority",
    )
    .bind(patient_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Chart {
        patient,
        diagnoses,
        medications,
        upcoming_appointments,
        recent_encounters,
        treatment_plan,
        insurance,
    })
}
