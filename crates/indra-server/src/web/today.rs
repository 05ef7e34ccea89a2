//! `GET /`: the day at a glance. A clinician sees their appointments of today (in the practice's
//! time zone), their notes still to sign, their supervisees' notes waiting for a cosignature and
//! their plans due for review; the others see how busy the practice is and what this page will
//! hold.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use uuid::Uuid;

use crate::api::extract;
use crate::api::pagination::PageQuery;
use crate::clinical::notes::signing::awaiting_cosignature;
use crate::clinical::plans::treatment_plans::{DueQuery, PlanDueForReview, plans_due_for_review};
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Section, render};

/// Plans listed as due for review: overdue ones, and those due within this many days.
const REVIEW_WINDOW_DAYS: u32 = 14;

#[derive(Debug, sqlx::FromRow)]
struct Appointment {
    starts: String,
    ends: String,
    kind: String,
    modality: String,
    status: String,
    patient: String,
    preferred_name: Option<String>,
    mrn: String,
    location: Option<String>,
}

/// One of the caller's unsigned notes.
#[derive(Debug, sqlx::FromRow)]
struct NoteToSign {
    id: Uuid,
    patient: String,
    mrn: String,
    /// The encounter's day in the practice's time zone, e.g. `Nov 24, 2026`.
    encounter_day: String,
}

/// A supervisee's signed note waiting for the caller's cosignature.
#[derive(Debug, sqlx::FromRow)]
struct NoteToCosign {
    id: Uuid,
    supervisee: String,
    patient: String,
    mrn: String,
    /// When the supervisee signed it, in the practice's time zone.
    signed: String,
}

/// Most notes each list shows; the note pages hold the rest.
const NOTES_SHOWN: u32 = 50;

/// The practice's calendar day and the hour of it, in its own time zone.
#[derive(Debug, sqlx::FromRow)]
struct Day {
    label: String,
    hour: i32,
    time_zone: String,
}

#[derive(Template)]
#[template(path = "today.html")]
struct TodayPage {
    layout: Layout,
    greeting: String,
    day: Day,
    is_provider: bool,
    has_provider_record: bool,
    appointments: Vec<Appointment>,
    practice_appointments: i64,
    plans_due: Vec<PlanDueForReview>,
    notes_to_sign: Vec<NoteToSign>,
    notes_to_cosign: Vec<NoteToCosign>,
    /// The assistant's panel: no patient chosen from Today.
    assistant_patient_id: String,
}

/// Today's bounds in the organization's zone, as `day_start`, `day_end` (a day is not always 24
/// hours long).
const TODAY_SQL: &str = "with zone as (select time_zone as tz from organizations where id = $1)
    select tz,
           (date_trunc('day', now() at time zone tz)) at time zone tz as day_start,
           (date_trunc('day', now() at time zone tz) + interval '1 day') at time zone tz as day_end
      from zone";

pub async fn today(db: PageTx) -> Result<Response, WebError> {
    // A provider's plans due for review and cosignature inbox come from the API's own queries,
    // each in its own transaction; the rest of the page is read in another.
    let (plans_due, awaiting, mut db) = if db.is_provider() {
        let (tx, reopen) = db.into_api();
        let plans = plans_due_for_review(
            tx,
            extract::Query(DueQuery {
                within_days: Some(REVIEW_WINDOW_DAYS),
                limit: Some(20),
                cursor: None,
            }),
        )
        .await?
        .0;
        let inbox = awaiting_cosignature(
            reopen.open().await?.into_api().0,
            extract::Query(PageQuery {
                limit: Some(NOTES_SHOWN),
                cursor: None,
            }),
        )
        .await?
        .0;
        let awaiting: Vec<Uuid> = inbox.items.iter().map(|note| note.id).collect();
        (plans.items, awaiting, reopen.open().await?)
    } else {
        (Vec::new(), Vec::new(), db)
    };
    let layout = Layout::load(&mut db, Section::Today).await?;
    let org_id = db.caller.org_id;
    let day: Day = sqlx::query_as(
        "select to_char(now() at time zone time_zone, 'FMDay, FMMonth FMDD, YYYY') as label,
                extract(hour from now() at time zone time_zone)::int as hour,
                time_zone
           from organizations where id = $1",
    )
    .bind(org_id)
    .fetch_one(db.conn())
    .await?;
    let is_provider = db.caller.role == UserRole::Provider;
    let has_provider_record: bool = sqlx::query_scalar("select app.provider_id() is not null")
        .fetch_one(db.conn())
        .await?;
    let appointments: Vec<Appointment> = if has_provider_record {
        sqlx::query_as(&format!(
            "with today as ({TODAY_SQL})
             select to_char(a.starts_at at time zone t.tz, 'FMHH12:MI AM') as starts,
                    to_char(a.ends_at at time zone t.tz, 'FMHH12:MI AM') as ends,
                    initcap(replace(a.appointment_type::text, '_', ' ')) as kind,
                    replace(a.modality::text, '_', ' ') as modality,
                    replace(a.status::text, '_', ' ') as status,
                    p.last_name || ', ' || p.first_name as patient,
                    nullif(btrim(p.preferred_name), '') as preferred_name,
                    p.mrn, a.location
               from appointments a
               join patients p on p.org_id = a.org_id and p.id = a.patient_id
               cross join today t
              where a.provider_id = app.provider_id()
                and a.starts_at >= t.day_start and a.starts_at < t.day_end
              order by a.starts_at, p.last_name"
        ))
        .bind(org_id)
        .fetch_all(db.conn())
        .await?
    } else {
        Vec::new()
    };
    // The caller's own drafts (a caller without a provider record has none).
    let notes_to_sign: Vec<NoteToSign> = if has_provider_record {
        sqlx::query_as(
            "select n.id, p.last_name || ', ' || p.first_name as patient, p.mrn,
                    to_char(coalesce(e.started_at, e.scheduled_start, n.created_at) at time zone o.time_zone,
                            'FMMon FMDD, YYYY') as encounter_day
               from clinical_notes n
               join patients p on p.org_id = n.org_id and p.id = n.patient_id
               join encounters e on e.org_id = n.org_id and e.id = n.encounter_id
               join organizations o on o.id = n.org_id
              where n.status = 'draft' and n.author_provider_id = app.provider_id()
              order by coalesce(e.started_at, e.scheduled_start, n.created_at), n.id
              limit $1",
        )
        .bind(i64::from(NOTES_SHOWN))
        .fetch_all(db.conn())
        .await?
    } else {
        Vec::new()
    };
    // Names for the inbox's notes, oldest signature first like the inbox.
    let notes_to_cosign: Vec<NoteToCosign> = if awaiting.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "select n.id, pr.first_name || ' ' || pr.last_name || ', ' || pr.credentials as supervisee,
                    p.last_name || ', ' || p.first_name as patient, p.mrn,
                    to_char(n.signed_at at time zone o.time_zone, 'FMMon FMDD, YYYY, FMHH12:MI AM') as signed
               from clinical_notes n
               join providers pr on pr.org_id = n.org_id and pr.id = n.author_provider_id
               join patients p on p.org_id = n.org_id and p.id = n.patient_id
               join organizations o on o.id = n.org_id
              where n.id = any($1)
              order by n.signed_at, n.id",
        )
        .bind(&awaiting)
        .fetch_all(db.conn())
        .await?
    };
    let practice_appointments: i64 = sqlx::query_scalar(&format!(
        "with today as ({TODAY_SQL})
         select count(*) from appointments a cross join today t
          where a.starts_at >= t.day_start and a.starts_at < t.day_end and a.status <> 'cancelled'"
    ))
    .bind(org_id)
    .fetch_one(db.conn())
    .await?;
    db.commit().await?;

    let first_name = layout
        .full_name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let part_of_day = match day.hour {
        0..12 => "Good morning",
        12..17 => "Good afternoon",
        _ => "Good evening",
    };
    let page = render(
        StatusCode::OK,
        &TodayPage {
            assistant_patient_id: String::new(),
            greeting: format!("{part_of_day}, {first_name}"),
            layout,
            day,
            is_provider,
            has_provider_record,
            appointments,
            practice_appointments,
            plans_due,
            notes_to_sign,
            notes_to_cosign,
        },
    )?;
    // The assistant panel's dictation script.
    Ok(crate::web::assistant::allow_script(page))
}
