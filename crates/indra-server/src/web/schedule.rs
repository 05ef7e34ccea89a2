//! `/schedule`: a provider's day or week in the practice's time zone (the API's calendar), and
//! the booking form, which goes through the API's booking handler: a single appointment or a
//! weekly series, refused with the clashing time named, or booked on its free dates with the
//! skipped ones listed.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

use crate::api::extract;
use crate::clinical::patients::iso_date;
use crate::clinical::patients::search::{PatientQuery, search_patients};
use crate::clinical::scheduling::appointments::{
    Booking, Conflict, Modality, NewAppointment, SchedulingError, SessionType, book_appointment,
    practice_zone,
};
use crate::clinical::scheduling::calendar::{CalendarQuery, provider_calendar};
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::chart::words;
use crate::web::error::WebError;
use crate::web::page::{
    Choice, FieldError, Layout, PageTx, Reopen, Section, api_body, clock, day_label, filled, render,
};

const TYPES: [SessionType; 7] = [
    SessionType::IndividualTherapy,
    SessionType::Intake,
    SessionType::FamilyTherapy,
    SessionType::GroupTherapy,
    SessionType::MedicationManagement,
    SessionType::Crisis,
    SessionType::Telehealth,
];
const MODALITIES: [Modality; 3] = [Modality::InPerson, Modality::Video, Modality::AudioOnly];
const LENGTHS: [&str; 6] = ["30", "45", "53", "60", "75", "90"];
/// Patients offered in the booking form's list without a search.
const PATIENT_CHOICES: i64 = 300;

#[derive(Debug, Default, Deserialize)]
pub struct View {
    provider: Option<String>,
    date: Option<String>,
    /// `day` or `week` (default).
    view: Option<String>,
    /// A name, date of birth or MRN narrowing the booking form's patient list.
    find: Option<String>,
    /// Preselects a patient (the chart's "Book" link).
    patient: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BookForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    booking_key: String,
    #[serde(default)]
    provider_id: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    appointment_type: String,
    #[serde(default)]
    modality: String,
    /// A checkbox.
    repeat: Option<String>,
    #[serde(default)]
    weeks: String,
    /// A checkbox.
    skip_conflicts: Option<String>,
}

struct Slot {
    id: Uuid,
    time: String,
    patient: String,
    patient_id: Uuid,
    kind: String,
    modality: String,
    status: String,
}

struct DayColumn {
    label: String,
    is_today: bool,
    slots: Vec<Slot>,
}

/// A date of a booked series that was skipped, and what holds its time.
struct Skipped {
    when: String,
    clash: String,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    layout: Layout,
    time_zone: String,
    providers: Vec<Choice>,
    provider_name: String,
    provider_id: String,
    week: bool,
    date: String,
    title: String,
    previous: String,
    next: String,
    today: String,
    days: Vec<DayColumn>,
    may_book: bool,
    find: String,
    patients: Vec<Choice>,
    types: Vec<Choice>,
    modalities: Vec<Choice>,
    lengths: Vec<Choice>,
    form: BookForm,
    error: Option<FieldError>,
    booked: Option<String>,
    skipped: Vec<Skipped>,
}

impl SchedulePage {
    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }
}

/// What the booking answered, shown above the calendar.
#[derive(Default)]
struct Outcome {
    status: Option<StatusCode>,
    error: Option<FieldError>,
    booked: Option<String>,
    skipped: Vec<Skipped>,
}

pub async fn page(db: PageTx, Query(view): Query<View>) -> Result<Response, WebError> {
    show(db, view, BookForm::default(), Outcome::default()).await
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    id: Uuid,
    name: String,
}

async fn show(
    mut db: PageTx,
    view: View,
    mut form: BookForm,
    outcome: Outcome,
) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Schedule).await?;
    let providers: Vec<ProviderRow> = sqlx::query_as(
        "select id, first_name || ' ' || last_name || ', ' || credentials as name
           from providers where is_active order by lower(last_name), lower(first_name), id",
    )
    .fetch_all(db.conn())
    .await?;
    let own: Option<Uuid> = sqlx::query_scalar("select app.provider_id()")
        .fetch_one(db.conn())
        .await?;
    let asked = view
        .provider
        .as_deref()
        .and_then(|p| Uuid::parse_str(p).ok());
    let provider = asked
        .filter(|id| providers.iter().any(|p| p.id == *id))
        .or(own)
        .or_else(|| providers.first().map(|p| p.id));
    let zone = practice_zone(&mut db).await?;
    let time_zone: String = sqlx::query_scalar("select time_zone from organizations where id = $1")
        .bind(db.caller.org_id)
        .fetch_one(db.conn())
        .await?;
    let today = zone.local(OffsetDateTime::now_utc()).date();
    let date = view
        .date
        .as_deref()
        .and_then(|d| iso_date::parse(d).ok())
        .unwrap_or(today);
    let week = view.view.as_deref() != Some("day");
    let from = if week {
        date - Duration::days(i64::from(date.weekday().number_days_from_monday()))
    } else {
        date
    };
    let find = view
        .find
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let patient_rows: Vec<(Uuid, String, String)> = match filled(&find)
        .and_then(|q| PatientQuery::parse(q).ok())
    {
        Some(query) => search_patients(db.conn(), &query, 25)
            .await?
            .into_iter()
            .map(|p| (p.id, format!("{}, {}", p.last_name, p.first_name), p.mrn))
            .collect(),
        None => {
            sqlx::query_as(
                "select id, last_name || ', ' || first_name, mrn from patients
                  where status = 'active' order by lower(last_name), lower(first_name), id limit $1",
            )
            .bind(PATIENT_CHOICES)
            .fetch_all(db.conn())
            .await?
        }
    };
    let may_book = db.caller.role != UserRole::Billing && provider.is_some();
    let (tx, reopen) = db.into_api();
    drop(tx); // nothing written: rolled back.

    let calendar = match provider {
        Some(id) => Some(
            provider_calendar(
                reopen.open().await?.into_api().0,
                extract::Path(id),
                extract::Query(CalendarQuery {
                    from: Some(from.to_string()),
                    days: Some(if week { 7 } else { 1 }),
                }),
            )
            .await?
            .0,
        ),
        None => None,
    };
    let appointments = calendar.map(|c| c.appointments).unwrap_or_default();
    let names = patient_names(&reopen, &appointments).await?;

    let span = if week { 7 } else { 1 };
    let days = (0..span)
        .map(|offset| {
            let day = from + Duration::days(offset);
            DayColumn {
                label: day_label(day),
                is_today: day == today,
                slots: appointments
                    .iter()
                    .filter(|a| a.starts_at.date() == day)
                    .map(|a| Slot {
                        id: a.id,
                        time: format!("{}–{}", clock(a.starts_at), clock(a.ends_at)),
                        patient: names
                            .iter()
                            .find(|(id, _)| *id == a.patient_id)
                            .map(|(_, name)| name.clone())
                            .unwrap_or_default(),
                        patient_id: a.patient_id,
                        kind: words(&a.appointment_type),
                        modality: words(&a.modality),
                        status: a.status.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let provider_id = provider.map(|p| p.to_string()).unwrap_or_default();
    let provider_name = providers
        .iter()
        .find(|p| Some(p.id) == provider)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let step = if week { 7 } else { 1 };
    let view_name = if week { "week" } else { "day" };
    let link = |d: Date| format!("/schedule?provider={provider_id}&view={view_name}&date={d}");
    let title = if week {
        format!("Week of {}", day_label(from))
    } else {
        day_label(from)
    };
    if form.provider_id.is_empty() {
        form.provider_id.clone_from(&provider_id);
    }
    if form.patient_id.is_empty() {
        form.patient_id = view.patient.clone().unwrap_or_default();
    }
    if form.date.is_empty() {
        form.date = date.to_string();
    }
    if form.time.is_empty() {
        form.time = "09:00".to_owned();
    }
    if form.minutes.is_empty() {
        form.minutes = "53".to_owned();
    }
    if form.weeks.is_empty() {
        form.weeks = "6".to_owned();
    }
    if form.booking_key.is_empty() || outcome.booked.is_some() {
        form.booking_key = Uuid::new_v4().to_string();
    }
    let status = outcome.status.unwrap_or(StatusCode::OK);
    let (previous, next, today) = (
        link(from - Duration::days(step)),
        link(from + Duration::days(step)),
        link(today),
    );
    render(
        status,
        &SchedulePage {
            providers: providers
                .iter()
                .map(|p| Choice::new(p.id.to_string(), p.name.clone(), &form.provider_id))
                .collect(),
            patients: patient_rows
                .into_iter()
                .map(|(id, name, mrn)| {
                    Choice::new(id.to_string(), format!("{name} ({mrn})"), &form.patient_id)
                })
                .collect(),
            types: TYPES
                .iter()
                .map(|t| Choice::new(t.code(), words(t.code()), &form.appointment_type))
                .collect(),
            modalities: MODALITIES
                .iter()
                .map(|m| Choice::new(m.code(), words(m.code()), &form.modality))
                .collect(),
            lengths: LENGTHS
                .iter()
                .map(|l| Choice::new(*l, format!("{l} minutes"), &form.minutes))
                .collect(),
            layout,
            time_zone,
            provider_name,
            provider_id,
            week,
            date: date.to_string(),
            title,
            previous,
            next,
            today,
            days,
            may_book,
            find,
            form,
            error: outcome.error,
            booked: outcome.booked,
            skipped: outcome.skipped,
        },
    )
}

/// The names of the calendar's patients, in one query.
async fn patient_names(
    reopen: &Reopen,
    appointments: &[crate::clinical::scheduling::appointments::Appointment],
) -> Result<Vec<(Uuid, String)>, WebError> {
    if appointments.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = appointments.iter().map(|a| a.patient_id).collect();
    let mut db = reopen.open().await?;
    let names = sqlx::query_as(
        "select id, last_name || ', ' || first_name from patients where id = any($1)",
    )
    .bind(&ids)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    Ok(names)
}

/// `POST /schedule`: books through the API's handler.
pub async fn book(mut db: PageTx, Form(form): Form<BookForm>) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let zone = practice_zone(&mut db).await?;
    let view = View {
        provider: Some(form.provider_id.clone()),
        date: Some(form.date.clone()),
        view: Some("week".to_owned()),
        find: None,
        patient: None,
    };
    let new = match new_appointment(&form, &zone) {
        Ok(new) => new,
        Err(error) => return refused(db, view, form, error).await,
    };
    let mut headers = HeaderMap::new();
    if let Ok(key) = HeaderValue::from_str(form.booking_key.trim())
        && !form.booking_key.trim().is_empty()
    {
        headers.insert("idempotency-key", key);
    }
    let series = new.recurrence_rule.is_some();
    let (tx, reopen) = db.into_api();
    match book_appointment(tx, headers, extract::Json(new)).await {
        Ok(response) => {
            let booking: Booking = api_body(response).await?;
            let count = booking.appointments.len();
            let booked = if series {
                format!(
                    "Booked {count} weekly appointment{}{}.",
                    if count == 1 { "" } else { "s" },
                    booking
                        .appointments
                        .first()
                        .map(|a| {
                            let at = zone.local(a.starts_at);
                            format!(", from {} at {}", day_label(at.date()), clock(at))
                        })
                        .unwrap_or_default()
                )
            } else {
                booking
                    .appointments
                    .first()
                    .map(|a| {
                        let at = zone.local(a.starts_at);
                        format!("Booked {} at {}.", day_label(at.date()), clock(at))
                    })
                    .unwrap_or_else(|| "Booked.".to_owned())
            };
            let outcome = Outcome {
                status: None,
                error: None,
                booked: Some(booked),
                skipped: booking.skipped.iter().map(skipped).collect(),
            };
            let form = BookForm {
                provider_id: form.provider_id,
                ..BookForm::default()
            };
            show(reopen.open().await?, view, form, outcome).await
        }
        Err(SchedulingError::DoubleBooked { conflicts, .. }) => {
            let error = FieldError {
                field: "time".to_owned(),
                message: double_booking_message(&conflicts, series),
            };
            let outcome = Outcome {
                status: Some(StatusCode::CONFLICT),
                error: Some(error),
                ..Outcome::default()
            };
            show(reopen.open().await?, view, form, outcome).await
        }
        Err(SchedulingError::Api(error)) => refused(reopen.open().await?, view, form, error).await,
    }
}

fn skipped(conflict: &Conflict) -> Skipped {
    Skipped {
        when: format!(
            "{} at {}",
            day_label(conflict.starts_at.date()),
            clock(conflict.starts_at)
        ),
        clash: clash(conflict),
    }
}

/// `3:00–3:53 PM`: the appointment in the way.
fn clash(conflict: &Conflict) -> String {
    match &conflict.conflicts_with {
        Some(other) => format!(
            "already booked {}–{}",
            clock(other.starts_at),
            clock(other.ends_at)
        ),
        None => "already booked".to_owned(),
    }
}

fn double_booking_message(conflicts: &[Conflict], series: bool) -> String {
    let list = conflicts
        .iter()
        .take(5)
        .map(|c| {
            format!(
                "{} at {} ({})",
                day_label(c.starts_at.date()),
                clock(c.starts_at),
                clash(c)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let more = if conflicts.len() > 5 {
        format!(" and {} more", conflicts.len() - 5)
    } else {
        String::new()
    };
    if series {
        format!(
            "The provider is already booked on {} of these dates: {list}{more}. Nothing was booked. \
             Tick “Skip dates that conflict” to book the free dates, or choose another time.",
            conflicts.len()
        )
    } else {
        format!("The provider is already booked at that time: {list}. Choose another time.")
    }
}

async fn refused(
    db: PageTx,
    view: View,
    form: BookForm,
    error: ApiError,
) -> Result<Response, WebError> {
    let Some((status, field_error)) = FieldError::from_api(&error) else {
        return Err(error.into());
    };
    let outcome = Outcome {
        status: Some(status),
        error: Some(field_error),
        ..Outcome::default()
    };
    show(db, view, form, outcome).await
}

fn new_appointment(
    form: &BookForm,
    zone: &indra_rules::clinical::recurrence::Zone,
) -> Result<NewAppointment, ApiError> {
    let patient_id = Uuid::parse_str(form.patient_id.trim())
        .map_err(|_| ApiError::invalid("patient_id", "choose a patient"))?;
    let provider_id = Uuid::parse_str(form.provider_id.trim())
        .map_err(|_| ApiError::invalid("provider_id", "choose a provider"))?;
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
    let appointment_type = TYPES
        .iter()
        .copied()
        .find(|t| t.code() == form.appointment_type);
    let modality = MODALITIES
        .iter()
        .copied()
        .find(|m| m.code() == form.modality);
    let starts_at = zone
        .resolve(PrimitiveDateTime::new(date, time))
        .map_err(|_| ApiError::invalid("date", "outside the calendar"))?;
    let recurrence_rule = match form.repeat {
        Some(_) => {
            let weeks: u32 = form
                .weeks
                .trim()
                .parse()
                .ok()
                .filter(|w| (2..=52).contains(w))
                .ok_or_else(|| ApiError::invalid("weeks", "from 2 to 52 weeks"))?;
            Some(json!({"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": weeks}))
        }
        None => None,
    };
    Ok(NewAppointment {
        patient_id,
        provider_id,
        appointment_type,
        modality,
        starts_at,
        ends_at: starts_at + Duration::minutes(minutes),
        location: None,
        recurrence_rule,
        skip_conflicts: form.skip_conflicts.is_some(),
    })
}

/// `15:00` or `9:30` (what `<input type="time">` sends).
fn parse_time(text: &str) -> Option<Time> {
    let (hour, minute) = text.trim().split_once(':')?;
    let minute = minute.get(..2)?;
    Time::from_hms(hour.parse().ok()?, minute.parse().ok()?, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_the_time_input() {
        assert_eq!(parse_time("15:00"), Time::from_hms(15, 0, 0).ok());
        assert_eq!(parse_time("9:30"), Time::from_hms(9, 30, 0).ok());
        assert_eq!(parse_time("09:30:00"), Time::from_hms(9, 30, 0).ok());
        assert_eq!(parse_time("25:00"), None);
        assert_eq!(parse_time("noon"), None);
    }
}
