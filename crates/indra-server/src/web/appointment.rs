//! `/appointments/{id}`: one appointment in the practice's time zone, and what the front desk
//! and the clinician do with it: reschedule or cancel it (for an occurrence of a series: this
//! one, this and following, or the whole series), mark a no-show, and start and end the session
//! (the appointment's encounter; ending it completes the appointment, in the database). Every
//! action goes through the API's handler, so the page follows the API's rules.

use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use time::{Duration, PrimitiveDateTime};
use uuid::Uuid;

use crate::api::etag::etag_of;
use crate::api::extract;
use crate::clinical::patients::iso_date;
use crate::clinical::scheduling::appointments::{
    Appointment, AppointmentChange, Cancellation, SchedulingError, SeriesScope, cancel_appointment,
    change_appointment, get_appointment, mark_no_show, practice_zone,
};
use crate::clinical::scheduling::encounters::{
    NewEncounter, complete_encounter, open_encounter, start_encounter,
};
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::chart::words;
use crate::web::error::WebError;
use crate::web::page::{
    Choice, FieldError, Layout, PageTx, Reopen, Section, clock, created_id, day_label, render,
};

const LENGTHS: [&str; 6] = ["30", "45", "53", "60", "75", "90"];

/// Which of the page's forms a refusal belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Reschedule,
    Cancel,
    Status,
}

/// The reschedule form.
#[derive(Debug, Default, Deserialize)]
pub struct RescheduleForm {
    #[serde(default)]
    csrf_token: String,
    /// The version read, without quotes.
    #[serde(default)]
    etag: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    scope: String,
}

/// The cancel form.
#[derive(Debug, Default, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    etag: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    scope: String,
}

/// The forms without fields: no-show, start and end of the session.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    etag: String,
}

/// A radio button of the series-scope choice.
struct ScopeChoice {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "appointment.html")]
struct AppointmentPage {
    layout: Layout,
    id: Uuid,
    patient_id: Uuid,
    patient: String,
    provider: String,
    when: String,
    time_zone: String,
    kind: String,
    modality: String,
    status: String,
    status_label: String,
    cancel_reason: Option<String>,
    /// "Occurrence 2 of 6 of a weekly series", for an appointment of a series.
    series: Option<String>,
    /// The encounter of the appointment: its id and status.
    encounter: Option<(Uuid, String)>,
    etag: String,
    may_act: bool,
    may_write_note: bool,
    scheduled: bool,
    may_start: bool,
    may_end: bool,
    date: String,
    time: String,
    lengths: Vec<Choice>,
    reschedule_scopes: Vec<ScopeChoice>,
    cancel_scopes: Vec<ScopeChoice>,
    reason: String,
    notice: Option<String>,
    error: Option<(Action, FieldError)>,
}

impl AppointmentPage {
    /// The refusal of `field` in the reschedule form, shown next to it.
    fn reschedule_error(&self, field: &str) -> Option<&str> {
        self.error_of(Action::Reschedule, field)
    }

    fn cancel_error(&self, field: &str) -> Option<&str> {
        self.error_of(Action::Cancel, field)
    }

    fn status_error(&self) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(a, _)| *a == Action::Status)
            .map(|(_, e)| e.message.as_str())
    }

    fn error_of(&self, action: Action, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(a, e)| *a == action && e.field == field)
            .map(|(_, e)| e.message.as_str())
    }
}

/// What an action answered, shown on the page drawn after it.
#[derive(Default)]
struct Outcome {
    status: Option<StatusCode>,
    notice: Option<String>,
    error: Option<(Action, FieldError)>,
    /// The values the reschedule or cancel form was sent with, kept when refused.
    date: Option<String>,
    time: Option<String>,
    minutes: Option<String>,
    scope: Option<String>,
    reason: Option<String>,
}

fn appointment_id(id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| WebError::not_found())
}

/// `GET /appointments/{id}`.
pub async fn page(db: PageTx, Path(id): Path<String>) -> Result<Response, WebError> {
    let id = appointment_id(&id)?;
    show(db, id, Outcome::default()).await
}

async fn show(mut db: PageTx, id: Uuid, outcome: Outcome) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Schedule).await?;
    let zone = practice_zone(&mut db).await?;
    let time_zone: String = sqlx::query_scalar("select time_zone from organizations where id = $1")
        .bind(db.caller.org_id)
        .fetch_one(db.conn())
        .await?;
    let may_act = db.caller.role != UserRole::Billing;
    let may_write_note = db.is_provider();
    let (tx, reopen) = db.into_api();
    let appointment: Appointment = get_appointment(tx, extract::Path(id)).await?.0;
    let mut db = reopen.open().await?;
    let (patient, provider): (String, String) = sqlx::query_as(
        "select pa.last_name || ', ' || pa.first_name,
                pr.first_name || ' ' || pr.last_name || ', ' || pr.credentials
           from patients pa, providers pr where pa.id = $1 and pr.id = $2",
    )
    .bind(appointment.patient_id)
    .bind(appointment.provider_id)
    .fetch_one(db.conn())
    .await?;
    let encounter: Option<(Uuid, String)> = sqlx::query_as(
        "select id, status::text from encounters where appointment_id = $1 order by created_at limit 1",
    )
    .bind(id)
    .fetch_optional(db.conn())
    .await?;
    let series = match appointment.series_id {
        Some(series_id) => {
            let (count, position, rule): (i64, i64, Option<serde_json::Value>) = sqlx::query_as(
                "select count(*) filter (where status <> 'cancelled'),
                        count(*) filter (where status <> 'cancelled' and starts_at <= $2),
                        (select recurrence_rule from appointments where id = $1)
                   from appointments where series_id = $1",
            )
            .bind(series_id)
            .bind(appointment.starts_at)
            .fetch_one(db.conn())
            .await?;
            Some(series_label(position, count, rule.as_ref()))
        }
        None => None,
    };
    db.commit().await?;

    let starts = zone.local(appointment.starts_at);
    let ends = zone.local(appointment.ends_at);
    let minutes = outcome.minutes.clone().unwrap_or_else(|| {
        (appointment.ends_at - appointment.starts_at)
            .whole_minutes()
            .to_string()
    });
    let mut lengths: Vec<Choice> = LENGTHS
        .iter()
        .map(|l| Choice::new(*l, format!("{l} minutes"), &minutes))
        .collect();
    if !lengths.iter().any(|c| c.selected) && minutes.parse::<u32>().is_ok() {
        lengths.push(Choice::new(
            minutes.clone(),
            format!("{minutes} minutes"),
            &minutes,
        ));
    }
    let scope = outcome.scope.clone().unwrap_or_else(|| "this".to_owned());
    let scheduled = appointment.status == "scheduled";
    let encounter_status = encounter.as_ref().map(|(_, s)| s.as_str());
    render(
        outcome.status.unwrap_or(StatusCode::OK),
        &AppointmentPage {
            layout,
            id,
            patient_id: appointment.patient_id,
            patient,
            provider,
            when: format!(
                "{}, {}–{}",
                day_label(starts.date()),
                clock(starts),
                clock(ends)
            ),
            time_zone,
            kind: words(&appointment.appointment_type),
            modality: words(&appointment.modality),
            status_label: words(&appointment.status),
            status: appointment.status.clone(),
            cancel_reason: appointment.cancel_reason.clone(),
            series,
            may_act,
            may_write_note,
            scheduled,
            may_start: scheduled && matches!(encounter_status, None | Some("scheduled")),
            may_end: encounter_status == Some("in_progress"),
            encounter,
            etag: etag_of(&appointment).trim_matches('"').to_owned(),
            date: outcome.date.unwrap_or_else(|| starts.date().to_string()),
            time: outcome
                .time
                .unwrap_or_else(|| format!("{:02}:{:02}", starts.hour(), starts.minute())),
            lengths,
            reschedule_scopes: scopes(&scope),
            cancel_scopes: scopes(&scope),
            reason: outcome.reason.unwrap_or_default(),
            notice: outcome.notice,
            error: outcome.error,
        },
    )
}

fn scopes(current: &str) -> Vec<ScopeChoice> {
    [
        ("this", "This appointment only"),
        ("this_and_following", "This and the following appointments"),
        ("all", "Every appointment of the series"),
    ]
    .into_iter()
    .map(|(value, label)| ScopeChoice {
        value,
        label,
        checked: value == current,
    })
    .collect()
}

/// `Appointment 2 of 6 of a weekly series`.
fn series_label(position: i64, count: i64, rule: Option<&serde_json::Value>) -> String {
    let every = rule
        .and_then(|r| {
            let freq = r.get("FREQ")?.as_str()?.to_ascii_lowercase();
            let interval = r
                .get("INTERVAL")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(1);
            let unit = match freq.as_str() {
                "daily" => "day",
                "weekly" => "week",
                "monthly" => "month",
                _ => return None,
            };
            Some(if interval > 1 {
                format!("a series every {interval} {unit}s")
            } else {
                format!("a {freq} series")
            })
        })
        .unwrap_or_else(|| "a series".to_owned());
    if position >= 1 {
        format!("Appointment {position} of {count} of {every}")
    } else {
        format!("Part of {every} ({count} appointments)")
    }
}

fn scope_of(value: &str) -> Result<SeriesScope, ApiError> {
    match value.trim() {
        "" | "this" => Ok(SeriesScope::This),
        "this_and_following" => Ok(SeriesScope::ThisAndFollowing),
        "all" => Ok(SeriesScope::All),
        _ => Err(ApiError::invalid(
            "scope",
            "choose which appointments change",
        )),
    }
}

fn if_match(etag: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", etag.trim())) {
        headers.insert(header::IF_MATCH, value);
    }
    headers
}

/// The page again after a refusal: a value (next to its field), a stale version, or a move the
/// status machine does not allow. Any other error is the error page.
async fn refused(
    reopen: &Reopen,
    id: Uuid,
    action: Action,
    error: ApiError,
    mut outcome: Outcome,
) -> Result<Response, WebError> {
    let (status, field_error) = match &error {
        ApiError::PreconditionFailed => (
            StatusCode::PRECONDITION_FAILED,
            FieldError {
                field: "form".to_owned(),
                message: "Someone changed this appointment since you opened it. \
                          It is shown as it is now; check it and try again."
                    .to_owned(),
            },
        ),
        _ => match FieldError::from_api(&error) {
            Some((status, mut field_error)) => {
                // The API names its own fields; the form's are date, time and length.
                field_error.field = match field_error.field.as_str() {
                    "starts_at" => "time".to_owned(),
                    "ends_at" => "minutes".to_owned(),
                    "reason" | "scope" | "date" | "time" | "minutes" => field_error.field,
                    _ => "form".to_owned(),
                };
                (status, field_error)
            }
            None => return Err(error.into()),
        },
    };
    outcome.status = Some(status);
    outcome.error = Some((action, field_error));
    show(reopen.open().await?, id, outcome).await
}

fn change_of(
    form: &RescheduleForm,
    zone: &indra_rules::clinical::recurrence::Zone,
) -> Result<AppointmentChange, ApiError> {
    let date = iso_date::parse(&form.date)
        .map_err(|_| ApiError::invalid("date", "not a date (YYYY-MM-DD)"))?;
    let time = parse_time(&form.time)
        .ok_or_else(|| ApiError::invalid("time", "not a time (HH:MM, e.g. 15:00)"))?;
    let minutes: i64 = form
        .minutes
        .trim()
        .parse()
        .ok()
        .filter(|m| (5..=480).contains(m))
        .ok_or_else(|| ApiError::invalid("minutes", "from 5 to 480 minutes"))?;
    let starts_at = zone
        .resolve(PrimitiveDateTime::new(date, time))
        .map_err(|_| ApiError::invalid("date", "outside the calendar"))?;
    Ok(AppointmentChange {
        starts_at: Some(starts_at),
        ends_at: Some(starts_at + Duration::minutes(minutes)),
        scope: scope_of(&form.scope)?,
        ..AppointmentChange::default()
    })
}

/// `15:00` or `9:30` (what `<input type="time">` sends).
fn parse_time(text: &str) -> Option<time::Time> {
    let (hour, minute) = text.trim().split_once(':')?;
    let minute = minute.get(..2)?;
    time::Time::from_hms(hour.parse().ok()?, minute.parse().ok()?, 0).ok()
}

/// `POST /appointments/{id}/reschedule`.
pub async fn reschedule(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<RescheduleForm>,
) -> Result<Response, WebError> {
    let id = appointment_id(&id)?;
    db.require_csrf(&form.csrf_token)?;
    let zone = practice_zone(&mut db).await?;
    let kept = Outcome {
        date: Some(form.date.clone()),
        time: Some(form.time.clone()),
        minutes: Some(form.minutes.clone()),
        scope: Some(form.scope.clone()),
        ..Outcome::default()
    };
    let (tx, reopen) = db.into_api();
    let change = match change_of(&form, &zone) {
        Ok(change) => change,
        Err(error) => {
            drop(tx);
            return refused(&reopen, id, Action::Reschedule, error, kept).await;
        }
    };
    let scope = change.scope;
    match change_appointment(
        tx,
        extract::Path(id),
        if_match(&form.etag),
        extract::Json(change),
    )
    .await
    {
        Ok(_) => {
            let which = match scope {
                SeriesScope::This => "The appointment was",
                SeriesScope::ThisAndFollowing => "This and the following appointments were",
                SeriesScope::All => "Every appointment of the series was",
            };
            let outcome = Outcome {
                notice: Some(format!("{which} rescheduled.")),
                ..Outcome::default()
            };
            show(reopen.open().await?, id, outcome).await
        }
        Err(SchedulingError::DoubleBooked { conflicts, .. }) => {
            let list = conflicts
                .iter()
                .take(5)
                .map(|c| {
                    let what = match &c.conflicts_with {
                        Some(other) => format!(
                            "already booked {}–{}",
                            clock(other.starts_at),
                            clock(other.ends_at)
                        ),
                        None => "already booked".to_owned(),
                    };
                    format!(
                        "{} at {} ({what})",
                        day_label(c.starts_at.date()),
                        clock(c.starts_at)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let outcome = Outcome {
                status: Some(StatusCode::CONFLICT),
                error: Some((
                    Action::Reschedule,
                    FieldError {
                        field: "time".to_owned(),
                        message: format!(
                            "The provider is already booked at the new time: {list}. \
                             Nothing was changed; choose another time."
                        ),
                    },
                )),
                ..kept
            };
            show(reopen.open().await?, id, outcome).await
        }
        Err(SchedulingError::Api(error)) => {
            refused(&reopen, id, Action::Reschedule, error, kept).await
        }
    }
}

/// `POST /appointments/{id}/cancel`.
pub async fn cancel(
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> Result<Response, WebError> {
    let id = appointment_id(&id)?;
    db.require_csrf(&form.csrf_token)?;
    let kept = Outcome {
        scope: Some(form.scope.clone()),
        reason: Some(form.reason.clone()),
        ..Outcome::default()
    };
    let (tx, reopen) = db.into_api();
    let scope = match scope_of(&form.scope) {
        Ok(scope) => scope,
        Err(error) => {
            drop(tx);
            return refused(&reopen, id, Action::Cancel, error, kept).await;
        }
    };
    let cancellation = Cancellation {
        reason: form.reason.clone(),
        scope,
    };
    match cancel_appointment(
        tx,
        extract::Path(id),
        if_match(&form.etag),
        extract::Json(cancellation),
    )
    .await
    {
        Ok(_) => {
            let outcome = Outcome {
                notice: Some(
                    match scope {
                        SeriesScope::This => "The appointment was cancelled; its time is free.",
                        SeriesScope::ThisAndFollowing => {
                            "This and the following appointments were cancelled."
                        }
                        SeriesScope::All => "Every appointment of the series was cancelled.",
                    }
                    .to_owned(),
                ),
                ..Outcome::default()
            };
            show(reopen.open().await?, id, outcome).await
        }
        Err(error) => refused(&reopen, id, Action::Cancel, error, kept).await,
    }
}

/// `POST /appointments/{id}/no-show`.
pub async fn no_show(
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    let id = appointment_id(&id)?;
    db.require_csrf(&form.csrf_token)?;
    let (tx, reopen) = db.into_api();
    match mark_no_show(tx, extract::Path(id), if_match(&form.etag)).await {
        Ok(_) => {
            let outcome = Outcome {
                notice: Some("Marked as a no-show.".to_owned()),
                ..Outcome::default()
            };
            show(reopen.open().await?, id, outcome).await
        }
        Err(error) => refused(&reopen, id, Action::Status, error, Outcome::default()).await,
    }
}

/// The appointment's encounter, if one was opened.
async fn encounter_of(reopen: &Reopen, id: Uuid) -> Result<Option<(Uuid, String)>, WebError> {
    let mut db = reopen.open().await?;
    let encounter = sqlx::query_as(
        "select id, status::text from encounters where appointment_id = $1 order by created_at limit 1",
    )
    .bind(id)
    .fetch_optional(db.conn())
    .await?;
    db.commit().await?;
    Ok(encounter)
}

/// `POST /appointments/{id}/start`: opens the appointment's encounter (unless it is open
/// already) and starts it.
pub async fn start_session(
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    let id = appointment_id(&id)?;
    db.require_csrf(&form.csrf_token)?;
    let (tx, reopen) = db.into_api();
    // Nothing to write yet: the handlers below each take a transaction of their own.
    drop(tx);
    // The appointment must be the one the clinician read, and still scheduled.
    let (tx, _) = reopen.open().await?.into_api();
    let current = get_appointment(tx, extract::Path(id)).await?.0;
    if etag_of(&current).trim_matches('"') != form.etag.trim() {
        return refused(
            &reopen,
            id,
            Action::Status,
            ApiError::PreconditionFailed,
            Outcome::default(),
        )
        .await;
    }
    let encounter = match encounter_of(&reopen, id).await? {
        Some((encounter, _)) => encounter,
        None => {
            let new = NewEncounter {
                appointment_id: Some(id),
                ..NewEncounter::default()
            };
            let (tx, _) = reopen.open().await?.into_api();
            match open_encounter(tx, HeaderMap::new(), extract::Json(new)).await {
                Ok(response) => created_id(&response).ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("an encounter without a location"))
                })?,
                Err(error) => {
                    return refused(&reopen, id, Action::Status, error, Outcome::default()).await;
                }
            }
        }
    };
    let (tx, _) = reopen.open().await?.into_api();
    match start_encounter(tx, extract::Path(encounter), HeaderMap::new(), Bytes::new()).await {
        Ok(_) => {
            let outcome = Outcome {
                notice: Some("The session has started.".to_owned()),
                ..Outcome::default()
            };
            show(reopen.open().await?, id, outcome).await
        }
        Err(error) => refused(&reopen, id, Action::Status, error, Outcome::default()).await,
    }
}

/// `POST /appointments/{id}/end`: completes the appointment's encounter; the database
/// completes the appointment with it.
pub async fn end_session(
    db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    let id = appointment_id(&id)?;
    db.require_csrf(&form.csrf_token)?;
    let (tx, reopen) = db.into_api();
    drop(tx);
    let Some((encounter, _)) = encounter_of(&reopen, id).await? else {
        return refused(
            &reopen,
            id,
            Action::Status,
            ApiError::invalid("status", "the session has not started"),
            Outcome::default(),
        )
        .await;
    };
    let (tx, _) = reopen.open().await?.into_api();
    match complete_encounter(tx, extract::Path(encounter), HeaderMap::new(), Bytes::new()).await {
        Ok(_) => {
            let outcome = Outcome {
                notice: Some("The session has ended; the appointment is completed.".to_owned()),
                ..Outcome::default()
            };
            show(reopen.open().await?, id, outcome).await
        }
        Err(error) => refused(&reopen, id, Action::Status, error, Outcome::default()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_described_in_words() {
        let weekly = serde_json::json!({"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6});
        assert_eq!(
            series_label(2, 6, Some(&weekly)),
            "Appointment 2 of 6 of a weekly series"
        );
        let fortnightly = serde_json::json!({"FREQ": "WEEKLY", "INTERVAL": 2});
        assert_eq!(
            series_label(1, 3, Some(&fortnightly)),
            "Appointment 1 of 3 of a series every 2 weeks"
        );
        assert_eq!(series_label(1, 2, None), "Appointment 1 of 2 of a series");
    }

    #[test]
    fn the_scope_is_one_of_three() {
        assert_eq!(scope_of("").ok(), Some(SeriesScope::This));
        assert_eq!(scope_of("all").ok(), Some(SeriesScope::All));
        assert!(scope_of("everything").is_err());
    }
}
