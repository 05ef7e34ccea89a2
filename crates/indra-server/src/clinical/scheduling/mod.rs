//! Scheduling: appointments (single and recurring), calendars, the iCalendar feed, and encounters.
//!
//! Recurrence is expanded by the pure rules in `indra_rules::clinical::recurrence`, in the
//! practice's time zone; double booking, the status machines and "completing an encounter
//! completes its appointment" are the database's (migrations 0004 and 0014).

pub mod appointments;
pub mod calendar;
pub mod encounters;

use axum::Router;
use axum::routing::{get, post};
use utoipa::OpenApi;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/appointments", post(appointments::book_appointment))
        .route(
            "/api/v1/appointments/{id}",
            get(appointments::get_appointment).patch(appointments::change_appointment),
        )
        .route(
            "/api/v1/appointments/{id}/cancel",
            post(appointments::cancel_appointment),
        )
        .route(
            "/api/v1/appointments/{id}/no-show",
            post(appointments::mark_no_show),
        )
        .route(
            "/api/v1/appointments/{id}/complete",
            post(appointments::complete_appointment),
        )
        .route(
            "/api/v1/providers/{id}/calendar",
            get(calendar::provider_calendar),
        )
        .route(
            "/api/v1/providers/{id}/calendar-feed",
            post(calendar::create_calendar_feed).delete(calendar::revoke_calendar_feed),
        )
        // Outside /api/v1: a calendar program subscribes to it, signed in as nobody.
        .route("/calendar/{file}", get(calendar::serve_calendar_feed))
        .route("/api/v1/encounters", post(encounters::open_encounter))
        .route("/api/v1/encounters/{id}", get(encounters::get_encounter))
        .route(
            "/api/v1/encounters/{id}/start",
            post(encounters::start_encounter),
        )
        .route(
            "/api/v1/encounters/{id}/complete",
            post(encounters::complete_encounter),
        )
}

#[derive(OpenApi)]
#[openapi(
    paths(
        appointments::book_appointment, appointments::get_appointment, appointments::change_appointment,
        appointments::cancel_appointment, appointments::mark_no_show, appointments::complete_appointment,
        calendar::provider_calendar, calendar::create_calendar_feed, calendar::revoke_calendar_feed,
        encounters::open_encounter, encounters::get_encounter, encounters::start_encounter,
        encounters::complete_encounter,
    ),
    components(schemas(
        appointments::Appointment, appointments::NewAppointment, appointments::AppointmentChange,
        appointments::Booking, appointments::Conflict, appointments::ConflictingAppointment,
        appointments::DoubleBookingProblem, appointments::Cancellation, appointments::SeriesScope,
        appointments::SessionType, appointments::Modality, calendar::Calendar, calendar::CalendarFeed,
        encounters::Encounter, encounters::NewEncounter, encounters::EncounterMoment,
    )),
    tags((name = "scheduling", description = "Appointments, calendars and encounters"))
)]
struct SchedulingDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    SchedulingDoc::openapi()
}
