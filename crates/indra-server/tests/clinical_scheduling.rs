//! Scheduling over HTTP against the real database: booking and double booking, recurring series
//! across a daylight-saving change, series edits and cancellations, calendars, the iCalendar feed,
//! encounters completing their appointment, the organization wall and who may book.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use axum::http::{Method, StatusCode};
use common::{Answer, TestApp};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

const ORG_A: usize = 0;
const ORG_B: usize = 1;

/// Organization A, moved to America/Chicago so the dates below are that zone's DST changes
/// (2027-03-14 spring forward, 2027-11-07 fall back). Demo sessions are never at 15:00 or later.
struct Practice {
    app: TestApp,
    admin: String,
    staff: String,
    billing: String,
    /// A clinician of the practice, signed in, and their provider id.
    clinician: String,
    provider: Uuid,
    /// Another clinician's provider id.
    other_provider: Uuid,
    patients: Vec<Uuid>,
}

async fn practice() -> Practice {
    let app = TestApp::spawn().await;
    let admin_email = app.email_of(ORG_A, "admin").await;
    let org: Uuid = sqlx::query_scalar("select org_id from users where email = $1")
        .bind(&admin_email)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("update organizations set time_zone = 'America/Chicago' where id = $1")
        .bind(org)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let providers: Vec<(Uuid, String)> = sqlx::query_as(
        "select p.id, u.email::text from providers p join users u on u.org_id = p.org_id and u.id = p.user_id
          where p.org_id = $1 order by p.npi",
    )
    .bind(org)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let patients: Vec<Uuid> =
        sqlx::query_scalar("select id from patients where org_id = $1 order by mrn limit 3")
            .bind(org)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let admin = app.sign_in(&admin_email).await;
    let staff = app.sign_in(&app.email_of(ORG_A, "staff").await).await;
    let billing = app.sign_in(&app.email_of(ORG_A, "billing").await).await;
    let clinician = app.sign_in(&providers[0].1).await;
    Practice {
        admin,
        staff,
        billing,
        clinician,
        provider: providers[0].0,
        other_provider: providers[1].0,
        patients,
        app,
    }
}

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn time_of(value: &Value) -> OffsetDateTime {
    at(value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}")))
}

fn id_of(value: &Value) -> Uuid {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {value}"))
        .parse()
        .unwrap()
}

fn etag(answer: &Answer) -> String {
    answer.headers["etag"].to_str().unwrap().to_owned()
}

impl Practice {
    async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.app
            .call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    async fn patch(&self, path: &str, token: &str, body: Value, if_match: &str) -> Answer {
        self.app
            .call(
                Method::PATCH,
                path,
                Some(token),
                Some(body),
                &[("if-match", if_match)],
            )
            .await
    }

    /// A booking body for the practice's clinician.
    fn booking(&self, patient: usize, starts_at: &str, minutes: i64, rule: Option<Value>) -> Value {
        let start = at(starts_at);
        let end = (start + Duration::minutes(minutes))
            .format(&Rfc3339)
            .unwrap();
        let mut body = json!({
            "patient_id": self.patients[patient], "provider_id": self.provider,
            "appointment_type": "individual_therapy", "modality": "video",
            "starts_at": starts_at, "ends_at": end, "location": "Office 2",
        });
        if let Some(rule) = rule {
            body["recurrence_rule"] = rule;
        }
        body
    }

    async fn book(&self, body: Value) -> Answer {
        self.post("/api/v1/appointments", &self.staff, body).await
    }

    async fn booked(&self, body: Value) -> Vec<Value> {
        let answer = self.book(body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["appointments"].as_array().unwrap().clone()
    }

    async fn appointment(&self, id: Uuid) -> Answer {
        self.app
            .get(&format!("/api/v1/appointments/{id}"), &self.staff)
            .await
    }
}

#[tokio::test]
async fn a_double_booking_is_answered_409_with_the_appointment_in_the_way() {
    let p = practice().await;
    let first = p
        .booked(p.booking(0, "2027-01-12T15:00:00-06:00", 50, None))
        .await;
    assert_eq!(first.len(), 1);
    let first_id = id_of(&first[0]);
    assert!(first[0]["series_id"].is_null() && first[0]["recurrence_rule"].is_null());

    let clash = p
        .book(p.booking(1, "2027-01-12T15:30:00-06:00", 50, None))
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{:?}", clash.body);
    assert_eq!(clash.headers["content-type"], "application/problem+json");
    assert_eq!(clash.body["type"], "/problems/conflict");
    assert_eq!(clash.body["field"], "starts_at");
    let conflict = &clash.body["conflicts"][0]["conflicts_with"];
    assert_eq!(id_of(conflict), first_id);
    // Named in the practice's local time.
    assert_eq!(conflict["starts_at"], "2027-01-12T15:00:00-06:00");
    let detail = clash.body["detail"].as_str().unwrap();
    assert!(detail.contains(&first_id.to_string()), "{detail}");

    // Back to back is not a double booking ([start, end)), and another clinician is free.
    p.booked(p.booking(1, "2027-01-12T15:50:00-06:00", 50, None))
        .await;
    let mut other = p.booking(1, "2027-01-12T15:00:00-06:00", 50, None);
    other["provider_id"] = json!(p.other_provider);
    p.booked(other).await;
    p.app.close().await;
}

#[tokio::test]
async fn the_front_desk_and_clinicians_book_billing_does_not() {
    let p = practice().await;
    let body = p.booking(0, "2027-01-13T15:00:00-06:00", 50, None);
    let refused = p
        .post("/api/v1/appointments", &p.billing, body.clone())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    let booked = p.post("/api/v1/appointments", &p.clinician, body).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{:?}", booked.body);
    let id = id_of(&booked.body["appointments"][0]);
    // Billing reads the schedule, but may not change it.
    let read = p
        .app
        .get(&format!("/api/v1/appointments/{id}"), &p.billing)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let cancel = p
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            &p.billing,
            json!({"reason": "test"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN, "{:?}", cancel.body);
    let moved = p
        .patch(
            &format!("/api/v1/appointments/{id}"),
            &p.billing,
            json!({"location": "Office 1"}),
            &etag(&read),
        )
        .await;
    assert_eq!(moved.status, StatusCode::FORBIDDEN, "{:?}", moved.body);
    p.app.close().await;
}

#[tokio::test]
async fn a_weekly_series_keeps_3_pm_local_across_the_daylight_saving_change() {
    let p = practice().await;
    // Tuesdays at 15:00 in Chicago from 2027-03-09; clocks spring forward on 2027-03-14.
    let series = p
        .booked(p.booking(
            0,
            "2027-03-09T15:00:00-06:00",
            50,
            Some(json!({"FREQ": "WEEKLY", "COUNT": 3, "BYDAY": ["TU"]})),
        ))
        .await;
    let starts: Vec<OffsetDateTime> = series.iter().map(|a| time_of(&a["starts_at"])).collect();
    let utc_hours: Vec<u8> = starts
        .iter()
        .map(|t| t.to_offset(UtcOffset::UTC).hour())
        .collect();
    // 15:00 CST is 21:00Z; 15:00 CDT is 20:00Z.
    assert_eq!(utc_hours, vec![21, 20, 20]);
    assert_eq!(
        starts[2],
        at("2027-03-23T15:00:00-05:00"),
        "the third Tuesday"
    );
    let head = id_of(&series[0]);
    assert_eq!(
        series[0]["recurrence_rule"],
        json!({"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 3, "BYDAY": ["TU"]})
    );
    for appointment in &series {
        assert_eq!(appointment["series_id"], json!(head));
        // Every occurrence lasts as long as the first.
        assert_eq!(
            time_of(&appointment["ends_at"]) - time_of(&appointment["starts_at"]),
            Duration::minutes(50)
        );
    }
    assert!(series[1]["recurrence_rule"].is_null());

    // The calendar shows them at 15:00 local, with the offset of each week.
    for (from, offset) in [("2027-03-08", "-06:00"), ("2027-03-15", "-05:00")] {
        let week = p
            .app
            .get(
                &format!(
                    "/api/v1/providers/{}/calendar?from={from}&days=7",
                    p.provider
                ),
                &p.staff,
            )
            .await;
        assert_eq!(week.status, StatusCode::OK, "{:?}", week.body);
        assert_eq!(week.body["time_zone"], "America/Chicago");
        let ours: Vec<&Value> = week.body["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["series_id"] == json!(head))
            .collect();
        assert_eq!(ours.len(), 1, "{from}: {:?}", week.body);
        let starts_at = ours[0]["starts_at"].as_str().unwrap();
        assert!(
            starts_at.ends_with(&format!("T15:00:00{offset}")),
            "{starts_at}"
        );
    }
    p.app.close().await;
}

#[tokio::test]
async fn a_series_with_a_taken_date_is_refused_or_skips_it() {
    let p = practice().await;
    let taken = p
        .booked(p.booking(2, "2027-04-13T15:30:00-05:00", 50, None))
        .await;
    let taken_id = id_of(&taken[0]);
    let rule = json!({"FREQ": "WEEKLY", "COUNT": 3});
    let refused = p
        .book(p.booking(0, "2027-04-06T15:00:00-05:00", 50, Some(rule.clone())))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    let conflicts = refused.body["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["starts_at"], "2027-04-13T15:00:00-05:00");
    assert_eq!(id_of(&conflicts[0]["conflicts_with"]), taken_id);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("skip_conflicts")
    );
    // Nothing of the refused series was kept.
    let day = p
        .app
        .get(
            &format!("/api/v1/providers/{}/calendar?from=2027-04-06", p.provider),
            &p.staff,
        )
        .await;
    assert_eq!(day.body["appointments"], json!([]), "{:?}", day.body);

    let mut skipping = p.booking(0, "2027-04-06T15:00:00-05:00", 50, Some(rule));
    skipping["skip_conflicts"] = json!(true);
    let booked = p.book(skipping).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{:?}", booked.body);
    let starts: Vec<&str> = booked.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(starts, vec!["2027-04-06T20:00:00Z", "2027-04-20T20:00:00Z"]);
    assert_eq!(
        id_of(&booked.body["skipped"][0]["conflicts_with"]),
        taken_id
    );

    // A rule the expansion cannot book names its part.
    let bad = p
        .book(p.booking(
            0,
            "2027-04-06T15:00:00-05:00",
            50,
            Some(json!({"FREQ": "WEEKLY", "COUNT": 2, "BYDAY": ["MO"]})),
        ))
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bad.body
    );
    assert_eq!(bad.body["field"], "recurrence_rule.BYDAY");
    p.app.close().await;
}

#[tokio::test]
async fn one_occurrence_this_and_following_or_the_whole_series_is_changed() {
    let p = practice().await;
    // Tuesdays 2027-05-04, 11, 18, 25 at 15:00 CDT.
    let series = p
        .booked(p.booking(
            0,
            "2027-05-04T15:00:00-05:00",
            50,
            Some(json!({"FREQ": "WEEKLY", "COUNT": 4})),
        ))
        .await;
    let ids: Vec<Uuid> = series.iter().map(id_of).collect();
    let path = |i: usize| format!("/api/v1/appointments/{}", ids[i]);

    // Without If-Match: 428.
    let unversioned = p
        .app
        .call(
            Method::PATCH,
            &path(1),
            Some(&p.staff),
            Some(json!({"location": "Office 3"})),
            &[],
        )
        .await;
    assert_eq!(unversioned.status, StatusCode::PRECONDITION_REQUIRED);

    // This one: the second moves to 16:00, nothing else does.
    let second = p.appointment(ids[1]).await;
    let moved = p
        .patch(
            &path(1),
            &p.staff,
            json!({"starts_at": "2027-05-11T16:00:00-05:00", "scope": "this"}),
            &etag(&second),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    assert_eq!(moved.body["starts_at"], "2027-05-11T21:00:00Z");
    assert_eq!(moved.body["ends_at"], "2027-05-11T21:50:00Z", "length kept");
    assert_eq!(
        p.appointment(ids[2]).await.body["starts_at"],
        "2027-05-18T20:00:00Z"
    );
    // The old version is stale now.
    let stale = p
        .patch(&path(1), &p.staff, json!({"location": "x"}), &etag(&second))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);

    // This and following: the third and fourth move to Wednesdays at 17:00, as a new series.
    let third = p.appointment(ids[2]).await;
    let moved = p
        .patch(
            &path(2),
            &p.staff,
            json!({"starts_at": "2027-05-19T17:00:00-05:00", "scope": "this_and_following"}),
            &etag(&third),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let fourth = p.appointment(ids[3]).await.body;
    assert_eq!(fourth["starts_at"], "2027-05-26T22:00:00Z");
    assert_eq!(moved.body["series_id"], json!(ids[2]), "split here");
    assert_eq!(fourth["series_id"], json!(ids[2]));
    assert_eq!(
        moved.body["recurrence_rule"],
        json!({"FREQ": "WEEKLY", "INTERVAL": 1, "UNTIL": "2027-05-26"})
    );
    let first = p.appointment(ids[0]).await;
    assert_eq!(first.body["series_id"], json!(ids[0]));
    assert_eq!(first.body["starts_at"], "2027-05-04T20:00:00Z");
    assert_eq!(first.body["recurrence_rule"]["UNTIL"], "2027-05-11");

    // All: the first part of the series (the first two) moves to Office 9; the split part stays.
    let changed = p
        .patch(
            &path(0),
            &p.staff,
            json!({"location": "Office 9", "scope": "all"}),
            &etag(&first),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let locations: Vec<Value> = {
        let mut out = Vec::new();
        for id in &ids {
            out.push(p.appointment(*id).await.body["location"].clone());
        }
        out
    };
    assert_eq!(
        locations,
        vec![
            json!("Office 9"),
            json!("Office 9"),
            json!("Office 2"),
            json!("Office 2")
        ]
    );

    // Moving the whole (second) series one hour later keeps it on Wednesdays, local time.
    let third = p.appointment(ids[2]).await;
    let later = p
        .patch(
            &path(2),
            &p.staff,
            json!({"starts_at": "2027-05-19T18:00:00-05:00", "scope": "all"}),
            &etag(&third),
        )
        .await;
    assert_eq!(later.status, StatusCode::OK, "{:?}", later.body);
    assert_eq!(
        p.appointment(ids[3]).await.body["starts_at"],
        "2027-05-26T23:00:00Z"
    );

    // A move onto a taken time changes nothing and names what is in the way.
    let first = p.appointment(ids[0]).await;
    let clash = p
        .patch(
            &path(0),
            &p.staff,
            json!({"starts_at": "2027-05-11T16:30:00-05:00"}),
            &etag(&first),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{:?}", clash.body);
    assert_eq!(id_of(&clash.body["conflicts"][0]["conflicts_with"]), ids[1]);
    assert_eq!(
        p.appointment(ids[0]).await.body["starts_at"],
        "2027-05-04T20:00:00Z"
    );
    p.app.close().await;
}

#[tokio::test]
async fn cancelling_frees_the_slot_and_a_series_can_be_cancelled_whole() {
    let p = practice().await;
    let booked = p
        .booked(p.booking(0, "2027-06-01T15:00:00-05:00", 50, None))
        .await;
    let id = id_of(&booked[0]);
    let again = p
        .book(p.booking(1, "2027-06-01T15:00:00-05:00", 50, None))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let no_reason = p
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            &p.staff,
            json!({"reason": " "}),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_reason.body["field"], "reason");
    let cancelled = p
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            &p.staff,
            json!({"reason": "Client called to reschedule"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(cancelled.body["cancelled_at"].is_string());
    p.booked(p.booking(1, "2027-06-01T15:00:00-05:00", 50, None))
        .await;
    // Cancelled stays cancelled: not cancelled twice, and no no-show now.
    let twice = p
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            &p.staff,
            json!({"reason": "Again"}),
        )
        .await;
    assert_eq!(
        twice.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        twice.body
    );
    assert_eq!(
        p.appointment(id).await.body["cancel_reason"],
        "Client called to reschedule"
    );
    let missed = p
        .post(
            &format!("/api/v1/appointments/{id}/no-show"),
            &p.staff,
            json!({}),
        )
        .await;
    assert_eq!(
        missed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        missed.body
    );

    let series = p
        .booked(p.booking(
            2,
            "2027-06-07T16:00:00-05:00",
            50,
            Some(json!({"FREQ": "DAILY", "COUNT": 3})),
        ))
        .await;
    let ids: Vec<Uuid> = series.iter().map(id_of).collect();
    let following = p
        .post(
            &format!("/api/v1/appointments/{}/cancel", ids[1]),
            &p.staff,
            json!({"reason": "Moving away", "scope": "this_and_following"}),
        )
        .await;
    assert_eq!(following.status, StatusCode::OK, "{:?}", following.body);
    let statuses: Vec<Value> = {
        let mut out = Vec::new();
        for id in &ids {
            out.push(p.appointment(*id).await.body["status"].clone());
        }
        out
    };
    assert_eq!(
        statuses,
        vec![json!("scheduled"), json!("cancelled"), json!("cancelled")]
    );
    p.app.close().await;
}

#[tokio::test]
async fn the_calendar_is_by_day_or_week_of_one_provider() {
    let p = practice().await;
    p.booked(p.booking(0, "2027-07-06T15:00:00-05:00", 50, None))
        .await;
    p.booked(p.booking(0, "2027-07-08T15:00:00-05:00", 50, None))
        .await;
    let calendar = |query: String| {
        let p = &p;
        async move {
            p.app
                .get(
                    &format!("/api/v1/providers/{}/calendar?{query}", p.provider),
                    &p.staff,
                )
                .await
        }
    };
    let late = |answer: &Answer| -> Vec<String> {
        answer.body["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["starts_at"].as_str().unwrap().to_owned())
            .filter(|s| s.contains("T15:00"))
            .collect()
    };
    let day = calendar("from=2027-07-06&days=1".into()).await;
    assert_eq!(day.status, StatusCode::OK, "{:?}", day.body);
    assert_eq!(late(&day), vec!["2027-07-06T15:00:00-05:00"]);
    let week = calendar("from=2027-07-05&days=7".into()).await;
    assert_eq!(
        late(&week),
        vec!["2027-07-06T15:00:00-05:00", "2027-07-08T15:00:00-05:00"]
    );
    for appointment in week.body["appointments"].as_array().unwrap() {
        assert_eq!(appointment["provider_id"], json!(p.provider));
    }
    let bad = calendar("from=2027-07-05&days=3".into()).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "days");
    let bad = calendar("from=July".into()).await;
    assert_eq!(bad.body["field"], "from");
    p.app.close().await;
}

#[tokio::test]
async fn the_ics_feed_shows_session_times_without_patients_until_revoked() {
    let p = practice().await;
    let chicago = UtcOffset::from_hms(-6, 0, 0).unwrap();
    let day = (OffsetDateTime::now_utc() + Duration::days(10)).to_offset(chicago);
    let start = day
        .replace_time(time::Time::from_hms(17, 0, 0).unwrap())
        .format(&Rfc3339)
        .unwrap();
    let kept = id_of(&p.booked(p.booking(0, &start, 50, None)).await[0]);
    let later = (at(&start) + Duration::days(1)).format(&Rfc3339).unwrap();
    let dropped = id_of(&p.booked(p.booking(1, &later, 50, None)).await[0]);
    let cancelled = p
        .post(
            &format!("/api/v1/appointments/{dropped}/cancel"),
            &p.staff,
            json!({"reason": "Client is travelling"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);

    // The front desk may not open a clinician's feed; another practice cannot see the provider.
    let path = format!("/api/v1/providers/{}/calendar-feed", p.provider);
    let refused = p.post(&path, &p.staff, json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    let other_admin = p.app.sign_in(&p.app.email_of(ORG_B, "admin").await).await;
    let foreign = p.post(&path, &other_admin, json!({})).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);

    let created = p.post(&path, &p.clinician, json!({})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let url = created.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/calendar/") && url.ends_with(".ics"));
    // Only the hash is stored.
    let secret = url
        .trim_start_matches("/calendar/")
        .trim_end_matches(".ics");
    let stored: Vec<u8> =
        sqlx::query_scalar("select calendar_feed_secret_hash from providers where id = $1")
            .bind(p.provider)
            .fetch_one(&p.app.db.pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(secret));

    let feed = p.app.call(Method::GET, &url, None, None, &[]).await;
    assert_eq!(feed.status, StatusCode::OK);
    assert!(
        feed.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = feed.body.as_str().unwrap().to_owned();
    assert!(
        text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
        "{text}"
    );
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        assert!(line.len() <= 75, "unfolded line: {line}");
        assert!(!line.contains('\n') && !line.contains('\r'));
    }
    assert_eq!(
        text.matches("BEGIN:VEVENT").count(),
        text.matches("END:VEVENT").count()
    );
    assert!(text.contains(&format!("UID:{kept}@indra\r\n")), "{text}");
    assert!(!text.contains(&dropped.to_string()), "cancelled shown");
    let utc = at(&start).to_offset(UtcOffset::UTC);
    let dtstart = format!(
        "DTSTART:{:04}{:02}{:02}T{:02}{:02}00Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute()
    );
    assert!(text.contains(&dtstart), "{dtstart} in {text}");
    assert!(text.contains("SUMMARY:Session: Individual therapy (video)"));
    // No patient of the practice is named, by first or last name.
    let names: Vec<(String, String)> = sqlx::query_as(
        "select first_name, last_name from patients where org_id = (select org_id from providers where id = $1)",
    )
    .bind(p.provider)
    .fetch_all(&p.app.db.pool)
    .await
    .unwrap();
    let unfolded = text.replace("\r\n ", "");
    for (first, last) in names {
        assert!(
            !unfolded.contains(&first) && !unfolded.contains(&last),
            "a patient's name is in the feed"
        );
    }

    // A made-up secret names nothing; revoking makes the URL 404.
    let guessed = format!("/calendar/{}.ics", "A".repeat(43));
    assert_eq!(
        p.app
            .call(Method::GET, &guessed, None, None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let revoked = p
        .app
        .call(Method::DELETE, &path, Some(&p.admin), None, &[])
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{:?}", revoked.body);
    let gone = p.app.call(Method::GET, &url, None, None, &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    p.app.close().await;
}

#[tokio::test]
async fn an_encounter_moves_scheduled_in_progress_completed_and_completes_its_appointment() {
    let p = practice().await;
    let appointment = id_of(
        &p.booked(p.booking(0, "2027-08-03T15:00:00-05:00", 50, None))
            .await[0],
    );
    let opened = p
        .post(
            "/api/v1/encounters",
            &p.clinician,
            json!({"appointment_id": appointment, "place_of_service": "10"}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
    let encounter = id_of(&opened.body);
    assert_eq!(opened.body["status"], "scheduled");
    assert_eq!(opened.body["patient_id"], json!(p.patients[0]));
    assert_eq!(opened.body["provider_id"], json!(p.provider));
    assert_eq!(opened.body["encounter_type"], "individual_therapy");
    assert_eq!(opened.body["modality"], "video");
    assert_eq!(opened.body["scheduled_start"], "2027-08-03T20:00:00Z");

    // One encounter per appointment.
    let twice = p
        .post(
            "/api/v1/encounters",
            &p.clinician,
            json!({"appointment_id": appointment}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{:?}", twice.body);
    assert_eq!(twice.body["field"], "appointment_id");

    // Not completed before it started.
    let early = p
        .post(
            &format!("/api/v1/encounters/{encounter}/complete"),
            &p.clinician,
            json!({}),
        )
        .await;
    assert_eq!(
        early.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        early.body
    );
    // Billing reads encounters but does not move them.
    let billing = p
        .post(
            &format!("/api/v1/encounters/{encounter}/start"),
            &p.billing,
            json!({}),
        )
        .await;
    assert_eq!(billing.status, StatusCode::FORBIDDEN, "{:?}", billing.body);

    let started = p
        .post(
            &format!("/api/v1/encounters/{encounter}/start"),
            &p.clinician,
            json!({"at": "2027-08-03T20:02:00Z"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    assert_eq!(started.body["status"], "in_progress");
    assert_eq!(
        p.appointment(appointment).await.body["status"],
        "scheduled",
        "not before the session ends"
    );
    let completed = p
        .post(
            &format!("/api/v1/encounters/{encounter}/complete"),
            &p.clinician,
            json!({"at": "2027-08-03T20:55:30Z"}),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{:?}", completed.body);
    assert_eq!(completed.body["status"], "completed");
    assert_eq!(completed.body["duration_minutes"], 53);
    assert_eq!(p.appointment(appointment).await.body["status"], "completed");

    // Ad hoc: the patient, provider and type are given; without them, 422.
    let ad_hoc = p
        .post(
            "/api/v1/encounters",
            &p.staff,
            json!({"patient_id": p.patients[1], "provider_id": p.provider, "encounter_type": "crisis"}),
        )
        .await;
    assert_eq!(ad_hoc.status, StatusCode::CREATED, "{:?}", ad_hoc.body);
    assert!(ad_hoc.body["appointment_id"].is_null());
    let incomplete = p
        .post(
            "/api/v1/encounters",
            &p.staff,
            json!({"patient_id": p.patients[1]}),
        )
        .await;
    assert_eq!(incomplete.status, StatusCode::UNPROCESSABLE_ENTITY);
    p.app.close().await;
}

#[tokio::test]
async fn another_practices_appointments_and_encounters_are_not_found() {
    let p = practice().await;
    let appointment = id_of(
        &p.booked(p.booking(0, "2027-09-07T15:00:00-05:00", 50, None))
            .await[0],
    );
    let encounter = id_of(
        &p.post(
            "/api/v1/encounters",
            &p.staff,
            json!({"appointment_id": appointment}),
        )
        .await
        .body,
    );
    let etag_a = etag(&p.appointment(appointment).await);
    let other = p.app.sign_in(&p.app.email_of(ORG_B, "admin").await).await;
    let get = p
        .app
        .get(&format!("/api/v1/appointments/{appointment}"), &other)
        .await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    let patch = p
        .patch(
            &format!("/api/v1/appointments/{appointment}"),
            &other,
            json!({"location": "x"}),
            &etag_a,
        )
        .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    let cancel = p
        .post(
            &format!("/api/v1/appointments/{appointment}/cancel"),
            &other,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::NOT_FOUND);
    let get = p
        .app
        .get(&format!("/api/v1/encounters/{encounter}"), &other)
        .await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    let start = p
        .post(
            &format!("/api/v1/encounters/{encounter}/start"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(start.status, StatusCode::NOT_FOUND);
    let calendar = p
        .app
        .get(
            &format!("/api/v1/providers/{}/calendar", p.provider),
            &other,
        )
        .await;
    assert_eq!(calendar.status, StatusCode::NOT_FOUND);
    // Booking for another practice's patient and provider is refused as invalid.
    let mut foreign = p.booking(0, "2027-09-08T15:00:00-05:00", 50, None);
    foreign["provider_id"] = json!(p.provider);
    let refused = p.post("/api/v1/appointments", &other, foreign).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    // An encounter from another practice's appointment names nothing.
    let refused = p
        .post(
            "/api/v1/encounters",
            &other,
            json!({"appointment_id": appointment}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["field"], "appointment_id");
    p.app.close().await;
}

#[tokio::test]
async fn a_group_session_gives_each_participant_an_encounter_of_their_own() {
    let p = practice().await;
    let group = Uuid::new_v4();
    let mut encounters = Vec::new();
    for patient in &p.patients {
        let opened = p
            .post(
                "/api/v1/encounters",
                &p.clinician,
                json!({"patient_id": patient, "provider_id": p.provider,
                       "encounter_type": "group_therapy", "group_session_id": group}),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
        assert_eq!(opened.body["group_session_id"], json!(group));
        assert_eq!(opened.body["patient_id"], json!(patient));
        encounters.push(id_of(&opened.body));
    }
    // One encounter per participant, each its own (and so each its own note).
    let shared: i64 = sqlx::query_scalar(
        "select count(distinct id) from encounters where group_session_id = $1 and encounter_type = 'group_therapy'",
    )
    .bind(group)
    .fetch_one(&p.app.db.pool)
    .await
    .unwrap();
    assert_eq!(shared, p.patients.len() as i64);
    p.app.close().await;
}
