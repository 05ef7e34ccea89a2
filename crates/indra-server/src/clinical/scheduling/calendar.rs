//! A provider's calendar by day and week, and their iCalendar (.ics) feed behind a revocable
//! secret URL.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::appointments::{APPOINTMENT_COLUMNS, Appointment, practice_zone};
use crate::api::extract::{Path, Query};
use crate::error::{ApiError, Problem};
use crate::platform::caller::CallerTx;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// The first day, `YYYY-MM-DD`, in the practice's time zone (default: today there).
    pub from: Option<String>,
    /// 1 (a day) or 7 (a week); default 1.
    pub days: Option<u8>,
}

/// A provider's appointments over a day or a week, every status, in order. Times are written
/// with the practice's UTC offset on that day (`2027-03-09T15:00:00-06:00`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Calendar {
    pub provider_id: Uuid,
    /// The practice's IANA time zone, in which the days are counted.
    pub time_zone: String,
    /// The first day, `YYYY-MM-DD`.
    pub from: String,
    pub days: u8,
    pub appointments: Vec<Appointment>,
}

fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[utoipa::path(get, path = "/api/v1/providers/{id}/calendar", tag = "scheduling",
    params(("id" = Uuid, Path, description = "The provider's id"), CalendarQuery),
    responses((status = 200, body = Calendar), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn provider_calendar(
    mut db: CallerTx,
    Path(provider_id): Path<Uuid>,
    Query(query): Query<CalendarQuery>,
) -> Result<axum::Json<Calendar>, ApiError> {
    let days = query.days.unwrap_or(1);
    if days != 1 && days != 7 {
        return Err(ApiError::invalid("days", "1 (a day) or 7 (a week)"));
    }
    let exists: bool = sqlx::query_scalar("select exists (select 1 from providers where id = $1)")
        .bind(provider_id)
        .fetch_one(db.conn())
        .await?;
    if !exists {
        return Err(ApiError::NotFound);
    }
    let time_zone: String = sqlx::query_scalar("select time_zone from organizations where id = $1")
        .bind(db.caller.org_id)
        .fetch_one(db.conn())
        .await?;
    let zone = practice_zone(&mut db).await?;
    let from = match &query.from {
        Some(text) => {
            parse_date(text).ok_or_else(|| ApiError::invalid("from", "a date, YYYY-MM-DD"))?
        }
        None => zone.local(OffsetDateTime::now_utc()).date(),
    };
    let bad_date = |_| ApiError::invalid("from", "a date, YYYY-MM-DD");
    let start = zone.start_of_day(from).map_err(bad_date)?;
    let end = zone
        .start_of_day(from + Duration::days(i64::from(days)))
        .map_err(bad_date)?;
    let mut appointments: Vec<Appointment> = sqlx::query_as(&format!(
        "select {APPOINTMENT_COLUMNS} from appointments
          where provider_id = $1 and starts_at >= $2 and starts_at < $3
          order by starts_at, id"
    ))
    .bind(provider_id)
    .bind(start)
    .bind(end)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    for appointment in &mut appointments {
        appointment.starts_at = zone.local(appointment.starts_at);
        appointment.ends_at = zone.local(appointment.ends_at);
    }
    Ok(axum::Json(Calendar {
        provider_id,
        time_zone,
        from: format_date(from),
        days,
        appointments,
    }))
}

/// A provider's calendar feed: subscribe to `url` in a calendar program.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CalendarFeed {
    /// Relative to this server, e.g. `/calendar/Xk3...Qw.ics`. Anyone holding it sees the
    /// provider's session times (never a patient's name): keep it private, revoke it if shared.
    pub url: String,
}

fn hash_of(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Creates the provider's feed URL (the provider themself, or an admin). A new URL replaces
/// the previous one, which stops working. Only a hash of the secret is stored.
#[utoipa::path(post, path = "/api/v1/providers/{id}/calendar-feed", tag = "scheduling",
    params(("id" = Uuid, Path, description = "The provider's id")),
    responses((status = 201, body = CalendarFeed), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_calendar_feed(
    mut db: CallerTx,
    Path(provider_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    let secret = URL_SAFE_NO_PAD.encode(secret);
    set_feed(&mut db, provider_id, Some(hash_of(&secret))).await?;
    db.commit().await?;
    let feed = CalendarFeed {
        url: format!("/calendar/{secret}.ics"),
    };
    let mut response = (StatusCode::CREATED, axum::Json(feed)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revokes the provider's feed: its URL answers 404 from now on.
#[utoipa::path(delete, path = "/api/v1/providers/{id}/calendar-feed", tag = "scheduling",
    params(("id" = Uuid, Path, description = "The provider's id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_calendar_feed(
    mut db: CallerTx,
    Path(provider_id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    set_feed(&mut db, provider_id, None).await?;
    db.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_feed(
    db: &mut CallerTx,
    provider_id: Uuid,
    hash: Option<Vec<u8>>,
) -> Result<(), ApiError> {
    // app.set_calendar_feed decides who may (the provider, an admin): 42501 -> 403.
    let found: bool = sqlx::query_scalar("select app.set_calendar_feed($1, $2)")
        .bind(provider_id)
        .bind(hash)
        .fetch_one(db.conn())
        .await?;
    if found {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// One appointment as the feed function returns it: no patient, no location.
#[derive(Debug, Deserialize)]
struct FeedEntry {
    id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    ends_at: OffsetDateTime,
    appointment_type: String,
    modality: String,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
struct Feed {
    appointments: Vec<FeedEntry>,
}

/// What the feed's URL names: the secret, from `<secret>.ics`. Anything else names nothing.
fn secret_of(file: &str) -> Option<&str> {
    let secret = file.strip_suffix(".ics")?;
    (secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(secret)
}

/// `GET /calendar/{secret}.ics`: the provider's non-cancelled appointments from 30 days ago to
/// 90 days ahead, as an RFC 5545 calendar. Nobody is signed in (a phone's calendar fetches it),
/// so this is not a `CallerTx` route: it reads through the named door `calendar_feed_door`
/// (the login role, no API role), calling the one function that role may call for it, `app.calendar_feed` (migration 0014), which takes the
/// secret's hash and returns only what the feed shows. An unknown or revoked secret is 404.
pub(crate) async fn serve_calendar_feed(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let Some(secret) = secret_of(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match read_feed(&state, &hash_of(secret)).await {
        Ok(Some(feed)) => {
            let body = ics(&feed.appointments, OffsetDateTime::now_utc());
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            );
            response
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn read_feed(state: &AppState, hash: &[u8]) -> Result<Option<Feed>, sqlx::Error> {
    let mut tx = state.db.calendar_feed_door().await?;
    let feed: Option<serde_json::Value> = sqlx::query_scalar("select app.calendar_feed($1)")
        .bind(hash)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(feed.and_then(|f| serde_json::from_value(f).ok()))
}

/// `20270309T210000Z`.
fn ics_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// RFC 5545 TEXT: backslash, semicolon, comma and newline escaped.
fn ics_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line, folded at 75 octets (continuations start with a space), ended by CRLF.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

/// "Individual therapy", from `individual_therapy`.
fn words(code: &str) -> String {
    let text = code.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// The VCALENDAR of the feed's appointments. A calendar on a phone is no place for a patient's
/// details: each event says "Session: <type>" (and the modality), nothing about who.
fn ics(appointments: &[FeedEntry], now: OffsetDateTime) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Indra//Scheduling//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Indra sessions",
    ] {
        push_line(&mut out, line);
    }
    for a in appointments {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}@indra", a.id));
        push_line(&mut out, &format!("DTSTAMP:{}", ics_time(now)));
        push_line(&mut out, &format!("DTSTART:{}", ics_time(a.starts_at)));
        push_line(&mut out, &format!("DTEND:{}", ics_time(a.ends_at)));
        push_line(
            &mut out,
            &format!("LAST-MODIFIED:{}", ics_time(a.updated_at)),
        );
        let summary = format!(
            "Session: {} ({})",
            words(&a.appointment_type),
            words(&a.modality).to_lowercase()
        );
        push_line(&mut out, &format!("SUMMARY:{}", ics_text(&summary)));
        // Completed and missed sessions stay on the calendar as they were: confirmed times.
        push_line(&mut out, "STATUS:CONFIRMED");
        push_line(&mut out, "TRANSP:OPAQUE");
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_with_crlf() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "é".repeat(60));
        push_line(&mut out, &line);
        assert!(out.ends_with("\r\n"));
        for physical in out.trim_end_matches("\r\n").split("\r\n") {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        // Unfolding gives the line back.
        assert_eq!(out.trim_end_matches("\r\n").replace("\r\n ", ""), line);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(ics_text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
        assert_eq!(words("medication_management"), "Medication management");
    }

    #[test]
    fn only_well_formed_secrets_name_a_feed() {
        let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(secret_of(&format!("{secret}.ics")), Some(secret.as_str()));
        assert_eq!(secret_of(&secret), None);
        assert_eq!(secret_of("x.ics"), None);
        assert_eq!(secret_of(&format!("{}.ics", "%".repeat(43))), None);
    }

    #[test]
    fn dates_are_year_month_day() {
        assert_eq!(
            parse_date("2027-03-09").map(format_date).as_deref(),
            Some("2027-03-09")
        );
        assert_eq!(parse_date("2027-3-9"), None);
        assert_eq!(parse_date("2027-02-30"), None);
    }
}
