//! Recurring appointments: an RFC 5545 recurrence rule, stored as JSON on the first appointment of
//! a series, expanded into occurrences in the practice's time zone.
//!
//! The rule is the subset a practice schedules with (the database checks its shape,
//! `app.recurrence_rule_is_valid` in migration 0004):
//!
//! ```json
//! {"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6, "BYDAY": ["TU", "TH"]}
//! ```
//!
//! What the expansion decides, and why:
//!
//! - **Wall-clock time is kept.** A 3 pm weekly session is at 3 pm local time before and after a
//!   daylight-saving change, so its instant (UTC) moves by an hour. Occurrences are computed as
//!   local dates and times, then placed in the zone.
//! - **Nonexistent and repeated local times** are resolved as RFC 5545 (section 3.3.5) and most
//!   calendar programs do ("compatible" disambiguation): a time inside the spring-forward gap
//!   (2:30 am on the night clocks jump from 2:00 to 3:00) moves forward by the length of the gap
//!   (3:30 am daylight time); a time that happens twice on the fall-back night (1:30 am) is the
//!   first of the two (daylight time). Clinics rarely book at those hours; the rule only has to be
//!   predictable.
//! - **The first start is the first occurrence.** With BYDAY it must fall on one of the listed
//!   days (otherwise the series would start with an appointment its own rule does not describe).
//! - **WEEKLY** weeks start on Monday (RFC 5545's default WKST). With BYDAY, every listed day of
//!   every INTERVAL-th week, from the first start on; without it, the first start's weekday.
//! - **DAILY** with BYDAY keeps only the listed days (RFC 5545: BYDAY limits a daily rule).
//! - **MONTHLY** repeats on the first start's day of the month; months without that day (the
//!   31st in April, the 30th in February) are skipped, not moved to the month's last day, as
//!   RFC 5545 requires of invalid dates. They do not count toward COUNT. BYDAY with MONTHLY
//!   ("every Tuesday of the month") is refused: that is a weekly series.
//! - **COUNT** counts occurrences including the first; **UNTIL** is inclusive: a date
//!   (`YYYY-MM-DD`, the last local day), a local time (`YYYY-MM-DDTHH:MM:SS`) or an instant
//!   (`...Z`). A series needs one of the two (an endless series cannot be stored as rows), and
//!   holds at most [`MAX_OCCURRENCES`].

use std::fmt;

use serde_json::{Map, Value, json};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// The most occurrences one series may hold (the database's bound on COUNT).
pub const MAX_OCCURRENCES: usize = 520;

/// How far after its first start a series may reach, whatever its rule: 10 years.
const HORIZON_DAYS: i64 = 3653;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub fn code(self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
        }
    }
}

/// When a series ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesEnd {
    /// This many occurrences, the first included.
    Count(u32),
    /// Occurrences starting on or before this.
    Until(Until),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The last local day of the series.
    Date(Date),
    /// The last local start time.
    Local(PrimitiveDateTime),
    /// The last start instant (UNTIL written with `Z`).
    Instant(OffsetDateTime),
}

/// A parsed recurrence rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurrenceRule {
    pub frequency: Frequency,
    /// Every `interval`-th day, week or month (1-52).
    pub interval: u32,
    pub end: SeriesEnd,
    /// The days a weekly (or daily) series falls on, Monday first; empty: the first start's.
    pub by_day: Vec<Weekday>,
}

/// Why a rule cannot be expanded. Each names the rule part (`field`) a client must fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    #[error("{detail}")]
    Malformed { field: &'static str, detail: String },
    #[error("a series needs COUNT or UNTIL")]
    NoEnd,
    #[error(
        "BYDAY with FREQ MONTHLY is not supported: a monthly series repeats on its first day of the month"
    )]
    ByDayWithMonthly,
    #[error(
        "the first appointment falls on a {weekday}, which is not one of the rule's BYDAY days"
    )]
    StartNotOnByDay { weekday: Weekday },
    #[error("a series holds at most {MAX_OCCURRENCES} appointments")]
    TooMany,
    #[error("{0} is not a time zone of the tz database")]
    UnknownTimeZone(String),
    #[error("the date is out of range")]
    OutOfRange,
}

impl RecurrenceError {
    /// The rule part the error is about (`FREQ`, `BYDAY`, ...), or `None` for the rule as a whole.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Malformed { field, .. } => Some(field),
            Self::ByDayWithMonthly | Self::StartNotOnByDay { .. } => Some("BYDAY"),
            Self::NoEnd | Self::TooMany | Self::UnknownTimeZone(_) | Self::OutOfRange => None,
        }
    }
}

fn malformed(field: &'static str, detail: &str) -> RecurrenceError {
    RecurrenceError::Malformed {
        field,
        detail: format!("{field}: {detail}"),
    }
}

const DAY_CODES: [(&str, Weekday); 7] = [
    ("MO", Weekday::Monday),
    ("TU", Weekday::Tuesday),
    ("WE", Weekday::Wednesday),
    ("TH", Weekday::Thursday),
    ("FR", Weekday::Friday),
    ("SA", Weekday::Saturday),
    ("SU", Weekday::Sunday),
];

fn day_code(day: Weekday) -> &'static str {
    DAY_CODES[usize::from(day.number_days_from_monday())].0
}

impl RecurrenceRule {
    /// Reads the JSON form. Accepts what `app.recurrence_rule_is_valid` accepts, and refuses a
    /// rule without an end and BYDAY on a monthly rule (see the module's documentation).
    pub fn from_json(value: &Value) -> Result<Self, RecurrenceError> {
        let object = value
            .as_object()
            .ok_or_else(|| malformed("recurrence_rule", "a JSON object"))?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !["FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY"].contains(&k.as_str()))
        {
            return Err(RecurrenceError::Malformed {
                field: "recurrence_rule",
                detail: format!(
                    "unknown rule part {unknown:?}: use FREQ, INTERVAL, COUNT, UNTIL, BYDAY"
                ),
            });
        }
        let frequency = match object.get("FREQ").and_then(Value::as_str) {
            Some("DAILY") => Frequency::Daily,
            Some("WEEKLY") => Frequency::Weekly,
            Some("MONTHLY") => Frequency::Monthly,
            _ => return Err(malformed("FREQ", "DAILY, WEEKLY or MONTHLY")),
        };
        let number = |key: &'static str, max: u64| -> Result<Option<u32>, RecurrenceError> {
            match object.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=max).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| malformed(key, &format!("a whole number from 1 to {max}"))),
            }
        };
        let interval = number("INTERVAL", 52)?.unwrap_or(1);
        let count = number("COUNT", MAX_OCCURRENCES as u64)?;
        let until = object
            .get("UNTIL")
            .map(|v| {
                v.as_str()
                    .and_then(parse_until)
                    .ok_or_else(|| malformed("UNTIL", "a date YYYY-MM-DD"))
            })
            .transpose()?;
        let end = match (count, until) {
            (Some(_), Some(_)) => return Err(malformed("UNTIL", "COUNT or UNTIL, not both")),
            (Some(count), None) => SeriesEnd::Count(count),
            (None, Some(until)) => SeriesEnd::Until(until),
            (None, None) => return Err(RecurrenceError::NoEnd),
        };
        let mut by_day = Vec::new();
        if let Some(days) = object.get("BYDAY") {
            let days = days
                .as_array()
                .filter(|d| (1..=7).contains(&d.len()))
                .ok_or_else(|| {
                    malformed("BYDAY", "a list of 1 to 7 days, e.g. [\"MO\", \"TH\"]")
                })?;
            for day in days {
                let day = day
                    .as_str()
                    .and_then(|code| DAY_CODES.iter().find(|(c, _)| *c == code))
                    .map(|(_, day)| *day)
                    .ok_or_else(|| malformed("BYDAY", "days are MO, TU, WE, TH, FR, SA, SU"))?;
                if !by_day.contains(&day) {
                    by_day.push(day);
                }
            }
            by_day.sort_by_key(|d| d.number_days_from_monday());
        }
        if frequency == Frequency::Monthly && !by_day.is_empty() {
            return Err(RecurrenceError::ByDayWithMonthly);
        }
        Ok(Self {
            frequency,
            interval,
            end,
            by_day,
        })
    }

    /// The JSON form, as stored: FREQ, INTERVAL, COUNT or UNTIL, and BYDAY when there is one.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("FREQ".into(), json!(self.frequency.code()));
        object.insert("INTERVAL".into(), json!(self.interval));
        match self.end {
            SeriesEnd::Count(count) => {
                object.insert("COUNT".into(), json!(count));
            }
            SeriesEnd::Until(until) => {
                object.insert("UNTIL".into(), json!(format_until(until)));
            }
        }
        if !self.by_day.is_empty() {
            let days: Vec<&str> = self.by_day.iter().map(|d| day_code(*d)).collect();
            object.insert("BYDAY".into(), json!(days));
        }
        Value::Object(object)
    }

    /// The same rule for a series moved by `days` (BYDAY and a dated UNTIL move with it), as
    /// when a whole series is rescheduled from Tuesdays to Wednesdays.
    pub fn shifted_by_days(&self, days: i64) -> Self {
        let mut by_day: Vec<Weekday> = self
            .by_day
            .iter()
            .map(|d| {
                let offset = (i64::from(d.number_days_from_monday()) + days).rem_euclid(7);
                DAY_CODES[offset as usize].1
            })
            .collect();
        by_day.sort_by_key(|d| d.number_days_from_monday());
        let end = match self.end {
            SeriesEnd::Until(Until::Date(date)) => {
                SeriesEnd::Until(Until::Date(date.saturating_add(Duration::days(days))))
            }
            SeriesEnd::Until(Until::Local(at)) => {
                SeriesEnd::Until(Until::Local(at.saturating_add(Duration::days(days))))
            }
            SeriesEnd::Until(Until::Instant(at)) => {
                SeriesEnd::Until(Until::Instant(at.saturating_add(Duration::days(days))))
            }
            count => count,
        };
        Self {
            by_day,
            end,
            ..self.clone()
        }
    }

    /// The same rule ending on `last_day` (UNTIL, replacing COUNT): what a series keeps when it is
    /// split in two ("this and following").
    pub fn ending_on(&self, last_day: Date) -> Self {
        Self {
            end: SeriesEnd::Until(Until::Date(last_day)),
            ..self.clone()
        }
    }

    /// The days of the series in local time, in order, from `first` (which must match the rule).
    fn dates(&self, first: Date) -> Result<Vec<Date>, RecurrenceError> {
        if !self.by_day.is_empty() && !self.by_day.contains(&first.weekday()) {
            return Err(RecurrenceError::StartNotOnByDay {
                weekday: first.weekday(),
            });
        }
        let last_day = first
            .checked_add(Duration::days(HORIZON_DAYS))
            .ok_or(RecurrenceError::OutOfRange)?;
        let interval = i64::from(self.interval);
        let mut dates = Vec::new();
        // Candidates in order; the caller stops at COUNT or UNTIL. `step` counts days, weeks or
        // months from the first start.
        let mut push = |date: Date| dates.push(date);
        match self.frequency {
            Frequency::Daily => {
                let mut day = first;
                while day <= last_day {
                    if self.by_day.is_empty() || self.by_day.contains(&day.weekday()) {
                        push(day);
                    }
                    day = day
                        .checked_add(Duration::days(interval))
                        .ok_or(RecurrenceError::OutOfRange)?;
                }
            }
            Frequency::Weekly => {
                let days = if self.by_day.is_empty() {
                    vec![first.weekday()]
                } else {
                    self.by_day.clone()
                };
                let monday =
                    first - Duration::days(i64::from(first.weekday().number_days_from_monday()));
                let mut week = monday;
                while week <= last_day {
                    for day in &days {
                        let date = week + Duration::days(i64::from(day.number_days_from_monday()));
                        if date >= first && date <= last_day {
                            push(date);
                        }
                    }
                    week = week
                        .checked_add(Duration::weeks(interval))
                        .ok_or(RecurrenceError::OutOfRange)?;
                }
            }
            Frequency::Monthly => {
                let months_from_zero = |date: Date| -> i64 {
                    i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1
                };
                let start = months_from_zero(first);
                let end = months_from_zero(last_day);
                let mut month = start;
                while month <= end {
                    let year = i32::try_from(month.div_euclid(12))
                        .map_err(|_| RecurrenceError::OutOfRange)?;
                    let month_number = u8::try_from(month.rem_euclid(12) + 1)
                        .map_err(|_| RecurrenceError::OutOfRange)?;
                    let month_of_year =
                        Month::try_from(month_number).map_err(|_| RecurrenceError::OutOfRange)?;
                    // A month without the day (the 31st in April) is skipped.
                    if let Ok(date) = Date::from_calendar_date(year, month_of_year, first.day()) {
                        push(date);
                    }
                    month += interval;
                }
            }
        }
        Ok(dates)
    }
}

fn parse_until(text: &str) -> Option<Until> {
    // The shapes the database accepts: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, and the latter with Z.
    let number = |part: &str, len: usize| -> Option<u16> {
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (day, rest) = match text.split_once('T') {
        Some((day, rest)) => (day, Some(rest)),
        None => (text, None),
    };
    let mut parts = day.split('-');
    let (year, month, dom) = (
        number(parts.next()?, 4)?,
        number(parts.next()?, 2)?,
        number(parts.next()?, 2)?,
    );
    if parts.next().is_some() {
        return None;
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::from(year), month, u8::try_from(dom).ok()?).ok()?;
    let Some(rest) = rest else {
        return Some(Until::Date(date));
    };
    let (clock, utc) = match rest.strip_suffix('Z') {
        Some(clock) => (clock, true),
        None => (rest, false),
    };
    let mut parts = clock.split(':');
    let (hour, minute, second) = (
        number(parts.next()?, 2)?,
        number(parts.next()?, 2)?,
        number(parts.next()?, 2)?,
    );
    if parts.next().is_some() {
        return None;
    }
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    let local = PrimitiveDateTime::new(date, time);
    Some(if utc {
        Until::Instant(local.assume_utc())
    } else {
        Until::Local(local)
    })
}

fn format_until(until: Until) -> String {
    let date = |d: Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let time = |t: Time| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    match until {
        Until::Date(d) => date(d),
        Until::Local(at) => format!("{}T{}", date(at.date()), time(at.time())),
        Until::Instant(at) => {
            let at = at.to_offset(UtcOffset::UTC);
            format!("{}T{}Z", date(at.date()), time(at.time()))
        }
    }
}

impl fmt::Display for RecurrenceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// An IANA time zone from the system's tz database (`America/Chicago`).
#[derive(Debug, Clone)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
}

impl Zone {
    pub fn named(name: &str) -> Result<Self, RecurrenceError> {
        jiff::tz::TimeZone::get(name)
            .map(|tz| Self { tz })
            .map_err(|_| RecurrenceError::UnknownTimeZone(name.to_owned()))
    }

    /// The instant a local date and time names in this zone, with the zone's offset then.
    /// Nonexistent and repeated local times are resolved as the module's documentation says.
    pub fn resolve(&self, local: PrimitiveDateTime) -> Result<OffsetDateTime, RecurrenceError> {
        let out_of_range = |_| RecurrenceError::OutOfRange;
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).map_err(out_of_range)?,
            i8::try_from(u8::from(local.month())).map_err(out_of_range)?,
            i8::try_from(local.day()).map_err(out_of_range)?,
            i8::try_from(local.hour()).map_err(out_of_range)?,
            i8::try_from(local.minute()).map_err(out_of_range)?,
            i8::try_from(local.second()).map_err(out_of_range)?,
            i32::try_from(local.nanosecond()).map_err(out_of_range)?,
        )
        .map_err(|_| RecurrenceError::OutOfRange)?;
        let zoned = self
            .tz
            .to_zoned_datetime(civil)
            .map_err(|_| RecurrenceError::OutOfRange)?;
        let stamp = zoned.timestamp();
        let offset = UtcOffset::from_whole_seconds(zoned.offset().seconds())
            .map_err(|_| RecurrenceError::OutOfRange)?;
        OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(stamp.as_second()) * 1_000_000_000 + i128::from(stamp.subsec_nanosecond()),
        )
        .map(|at| at.to_offset(offset))
        .map_err(|_| RecurrenceError::OutOfRange)
    }

    /// The same instant, written with this zone's offset at that moment (what the local clock
    /// shows).
    pub fn local(&self, instant: OffsetDateTime) -> OffsetDateTime {
        let stamp = jiff::Timestamp::new(
            instant.unix_timestamp(),
            i32::try_from(instant.nanosecond()).unwrap_or(0),
        );
        let seconds = stamp.map(|s| self.tz.to_offset(s).seconds()).unwrap_or(0);
        instant.to_offset(UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC))
    }

    /// The instant a local day begins (midnight, or the first moment after a gap).
    pub fn start_of_day(&self, date: Date) -> Result<OffsetDateTime, RecurrenceError> {
        self.resolve(date.midnight())
    }
}

/// One appointment of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The local date and time the rule gives (the first start's wall-clock time).
    pub local: PrimitiveDateTime,
    /// When it starts, with the zone's offset on that day.
    pub starts_at: OffsetDateTime,
}

/// The occurrences of `rule` from `first` (a local date and time in `zone`), in order, the
/// first included. See the module's documentation for the choices made.
pub fn expand(
    rule: &RecurrenceRule,
    first: PrimitiveDateTime,
    zone: &Zone,
) -> Result<Vec<Occurrence>, RecurrenceError> {
    let mut occurrences = Vec::new();
    for date in rule.dates(first.date())? {
        let local = PrimitiveDateTime::new(date, first.time());
        let starts_at = zone.resolve(local)?;
        let within = match rule.end {
            SeriesEnd::Count(count) => occurrences.len() < count as usize,
            SeriesEnd::Until(Until::Date(last)) => date <= last,
            SeriesEnd::Until(Until::Local(last)) => local <= last,
            SeriesEnd::Until(Until::Instant(last)) => starts_at <= last,
        };
        // Candidates come in order, so the first one past the end ends the series.
        if !within {
            break;
        }
        if occurrences.len() == MAX_OCCURRENCES {
            return Err(RecurrenceError::TooMany);
        }
        occurrences.push(Occurrence { local, starts_at });
    }
    Ok(occurrences)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime, offset};

    fn chicago() -> Zone {
        Zone::named("America/Chicago").unwrap()
    }

    fn rule(value: Value) -> RecurrenceRule {
        RecurrenceRule::from_json(&value).unwrap()
    }

    fn starts(rule_json: Value, first: PrimitiveDateTime) -> Vec<OffsetDateTime> {
        expand(&rule(rule_json), first, &chicago())
            .unwrap()
            .into_iter()
            .map(|o| o.starts_at)
            .collect()
    }

    #[test]
    fn a_weekly_session_keeps_its_local_time_across_spring_forward() {
        // America/Chicago moves from CST (-06) to CDT (-05) on Sunday 2026-03-08.
        let got = starts(
            json!({"FREQ": "WEEKLY", "COUNT": 3}),
            datetime!(2026-03-05 15:00),
        );
        assert_eq!(
            got,
            vec![
                datetime!(2026-03-05 15:00 -6),
                datetime!(2026-03-12 15:00 -5),
                datetime!(2026-03-19 15:00 -5),
            ]
        );
        // Same local time, so the instant moves an hour earlier in UTC.
        assert_eq!(got[0].to_offset(offset!(UTC)).hour(), 21);
        assert_eq!(got[1].to_offset(offset!(UTC)).hour(), 20);
    }

    #[test]
    fn a_weekly_session_keeps_its_local_time_across_fall_back() {
        // CDT (-05) back to CST (-06) on Sunday 2026-11-01.
        let got = starts(
            json!({"FREQ": "WEEKLY", "INTERVAL": 1, "UNTIL": "2026-11-12"}),
            datetime!(2026-10-29 15:00),
        );
        assert_eq!(
            got,
            vec![
                datetime!(2026-10-29 15:00 -5),
                datetime!(2026-11-05 15:00 -6),
                datetime!(2026-11-12 15:00 -6),
            ]
        );
        assert_eq!(got[0].to_offset(offset!(UTC)).hour(), 20);
        assert_eq!(got[1].to_offset(offset!(UTC)).hour(), 21);
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_moves_forward_by_the_gap() {
        let got = starts(
            json!({"FREQ": "DAILY", "COUNT": 3}),
            datetime!(2026-03-07 02:30),
        );
        assert_eq!(
            got,
            vec![
                datetime!(2026-03-07 02:30 -6),
                // 2:30 does not exist on 2026-03-08: 3:30 daylight time.
                datetime!(2026-03-08 03:30 -5),
                datetime!(2026-03-09 02:30 -5),
            ]
        );
    }

    #[test]
    fn a_repeated_fall_back_time_is_the_first_of_the_two() {
        let got = starts(
            json!({"FREQ": "DAILY", "COUNT": 2}),
            datetime!(2026-11-01 01:30),
        );
        assert_eq!(
            got,
            vec![
                datetime!(2026-11-01 01:30 -5),
                datetime!(2026-11-02 01:30 -6)
            ]
        );
    }

    #[test]
    fn count_and_until_end_a_series() {
        let first = datetime!(2026-03-02 09:00);
        assert_eq!(
            starts(json!({"FREQ": "WEEKLY", "COUNT": 4}), first).len(),
            4
        );
        // UNTIL is inclusive: the 23rd is the fourth Monday.
        let until = starts(json!({"FREQ": "WEEKLY", "UNTIL": "2026-03-23"}), first);
        assert_eq!(until.len(), 4);
        assert_eq!(until[3], datetime!(2026-03-23 09:00 -5));
        assert_eq!(
            starts(json!({"FREQ": "WEEKLY", "UNTIL": "2026-03-22"}), first).len(),
            3
        );
        // An instant: 2026-03-23 09:00 CDT is 14:00Z.
        assert_eq!(
            starts(
                json!({"FREQ": "WEEKLY", "UNTIL": "2026-03-23T14:00:00Z"}),
                first
            )
            .len(),
            4
        );
        assert_eq!(
            starts(
                json!({"FREQ": "WEEKLY", "UNTIL": "2026-03-23T13:59:59Z"}),
                first
            )
            .len(),
            3
        );
        assert_eq!(
            starts(
                json!({"FREQ": "WEEKLY", "UNTIL": "2026-03-23T08:59:00"}),
                first
            )
            .len(),
            3
        );
    }

    #[test]
    fn interval_two_is_every_other_week() {
        let got = starts(
            json!({"FREQ": "WEEKLY", "INTERVAL": 2, "COUNT": 3}),
            datetime!(2026-01-06 10:00),
        );
        let days: Vec<Date> = got.iter().map(|t| t.date()).collect();
        assert_eq!(
            days,
            vec![
                date!(2026 - 01 - 06),
                date!(2026 - 01 - 20),
                date!(2026 - 02 - 03)
            ]
        );
        let daily = starts(
            json!({"FREQ": "DAILY", "INTERVAL": 2, "COUNT": 3}),
            datetime!(2026-01-30 10:00),
        );
        assert_eq!(daily[2].date(), date!(2026 - 02 - 03));
    }

    #[test]
    fn byday_with_several_days_fills_each_week_in_order() {
        // Starts on a Wednesday: that week's Monday is before the start and not an occurrence.
        let got = starts(
            json!({"FREQ": "WEEKLY", "COUNT": 5, "BYDAY": ["FR", "MO", "WE"]}),
            datetime!(2026-03-04 15:00),
        );
        let days: Vec<Date> = got.iter().map(|t| t.date()).collect();
        assert_eq!(
            days,
            vec![
                date!(2026 - 03 - 04),
                date!(2026 - 03 - 06),
                date!(2026 - 03 - 09),
                date!(2026 - 03 - 11),
                date!(2026 - 03 - 13)
            ]
        );
        // Every other week, Tuesdays and Thursdays.
        let got = starts(
            json!({"FREQ": "WEEKLY", "INTERVAL": 2, "COUNT": 4, "BYDAY": ["TU", "TH"]}),
            datetime!(2026-03-03 15:00),
        );
        let days: Vec<Date> = got.iter().map(|t| t.date()).collect();
        assert_eq!(
            days,
            vec![
                date!(2026 - 03 - 03),
                date!(2026 - 03 - 05),
                date!(2026 - 03 - 17),
                date!(2026 - 03 - 19)
            ]
        );
        // A daily rule with BYDAY keeps only the listed days.
        let got = starts(
            json!({"FREQ": "DAILY", "COUNT": 3, "BYDAY": ["MO", "FR"]}),
            datetime!(2026-03-06 15:00),
        );
        let days: Vec<Date> = got.iter().map(|t| t.date()).collect();
        assert_eq!(
            days,
            vec![
                date!(2026 - 03 - 06),
                date!(2026 - 03 - 09),
                date!(2026 - 03 - 13)
            ]
        );
    }

    #[test]
    fn monthly_on_the_31st_skips_shorter_months() {
        let got = starts(
            json!({"FREQ": "MONTHLY", "COUNT": 4}),
            datetime!(2026-01-31 11:00),
        );
        let days: Vec<Date> = got.iter().map(|t| t.date()).collect();
        assert_eq!(
            days,
            vec![
                date!(2026 - 01 - 31),
                date!(2026 - 03 - 31),
                date!(2026 - 05 - 31),
                date!(2026 - 07 - 31)
            ]
        );
        // March 31 is after the change: 11:00 CDT.
        assert_eq!(got[1], datetime!(2026-03-31 11:00 -5));
        let every_other = starts(
            json!({"FREQ": "MONTHLY", "INTERVAL": 2, "UNTIL": "2026-12-31"}),
            datetime!(2026-08-31 11:00),
        );
        // August, October, December (all have a 31st).
        assert_eq!(every_other.len(), 3);
    }

    #[test]
    fn rules_that_cannot_be_booked_are_refused_with_their_part() {
        let refused = |value: Value| RecurrenceRule::from_json(&value).unwrap_err();
        assert_eq!(refused(json!({"FREQ": "WEEKLY"})), RecurrenceError::NoEnd);
        assert_eq!(
            refused(json!({"FREQ": "YEARLY", "COUNT": 2})).field(),
            Some("FREQ")
        );
        assert_eq!(
            refused(json!({"FREQ": "WEEKLY", "COUNT": 2, "UNTIL": "2026-01-01"})).field(),
            Some("UNTIL")
        );
        assert_eq!(
            refused(json!({"FREQ": "WEEKLY", "COUNT": 0})).field(),
            Some("COUNT")
        );
        assert_eq!(
            refused(json!({"FREQ": "WEEKLY", "COUNT": 521})).field(),
            Some("COUNT")
        );
        assert_eq!(
            refused(json!({"FREQ": "WEEKLY", "COUNT": 2, "INTERVAL": 53})).field(),
            Some("INTERVAL")
        );
        assert_eq!(
            refused(json!({"FREQ": "WEEKLY", "COUNT": 2, "BYDAY": ["XX"]})).field(),
            Some("BYDAY")
        );
        assert_eq!(
            refused(json!({"FREQ": "WEEKLY", "COUNT": 2, "BYSETPOS": 1})).field(),
            Some("recurrence_rule")
        );
        assert_eq!(
            refused(json!({"FREQ": "MONTHLY", "COUNT": 2, "BYDAY": ["TU"]})),
            RecurrenceError::ByDayWithMonthly
        );
        assert_eq!(
            refused(json!({"FREQ": "WEEKLY", "UNTIL": "2026-02-30"})).field(),
            Some("UNTIL")
        );
        // The first start must be one of the BYDAY days (2026-03-02 is a Monday).
        assert_eq!(
            expand(
                &rule(json!({"FREQ": "WEEKLY", "COUNT": 2, "BYDAY": ["TU"]})),
                datetime!(2026-03-02 09:00),
                &chicago()
            ),
            Err(RecurrenceError::StartNotOnByDay {
                weekday: Weekday::Monday
            })
        );
        // Daily for ten years is more than a series holds.
        assert_eq!(
            expand(
                &rule(json!({"FREQ": "DAILY", "UNTIL": "2030-01-01"})),
                datetime!(2026-03-02 09:00),
                &chicago()
            ),
            Err(RecurrenceError::TooMany)
        );
        assert!(Zone::named("Mars/Olympus_Mons").is_err());
    }

    #[test]
    fn the_stored_form_reads_back_the_same() {
        let original = rule(json!({"FREQ": "WEEKLY", "COUNT": 6, "BYDAY": ["TH", "TU"]}));
        assert_eq!(
            original.to_json(),
            json!({"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6, "BYDAY": ["TU", "TH"]})
        );
        assert_eq!(
            RecurrenceRule::from_json(&original.to_json()).unwrap(),
            original
        );
        for until in ["2026-03-23", "2026-03-23T09:00:00", "2026-03-23T14:00:00Z"] {
            let r = rule(json!({"FREQ": "DAILY", "UNTIL": until}));
            assert_eq!(r.to_json()["UNTIL"], until);
        }
    }

    #[test]
    fn a_moved_series_moves_its_days_and_end() {
        let r = rule(json!({"FREQ": "WEEKLY", "UNTIL": "2026-03-31", "BYDAY": ["TU", "SU"]}));
        let moved = r.shifted_by_days(1);
        assert_eq!(moved.by_day, vec![Weekday::Monday, Weekday::Wednesday]);
        assert_eq!(
            moved.end,
            SeriesEnd::Until(Until::Date(date!(2026 - 04 - 01)))
        );
        assert_eq!(
            r.shifted_by_days(-8).by_day,
            vec![Weekday::Monday, Weekday::Saturday]
        );
        assert_eq!(
            r.ending_on(date!(2026 - 03 - 10)).to_json()["UNTIL"],
            "2026-03-10"
        );
    }

    #[test]
    fn the_zone_writes_instants_with_its_offset() {
        let zone = chicago();
        assert_eq!(
            zone.local(datetime!(2026-03-12 20:00 UTC)),
            datetime!(2026-03-12 15:00 -5)
        );
        assert_eq!(
            zone.start_of_day(date!(2026 - 03 - 05)).unwrap(),
            datetime!(2026-03-05 00:00 -6)
        );
    }
}
