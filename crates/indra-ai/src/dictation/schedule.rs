//! The next appointments a dictation asks for: "next Tuesday at 3", "in two weeks at 10 am",
//! "same time next week", "March 24th at 10:30", "weekly for six weeks starting next Monday at 9",
//! "every other week starting Thursday the 24th at 2 pm".
//!
//! What is decided, and why:
//!
//! - **A time of day is required.** "Return in 4 weeks" or "schedule her again soon" proposes
//!   nothing and asks nothing: the front desk books those. A time with a day is an appointment; a
//!   time for a session with no day ("book his next session at 2 pm") or with two days ("Thursday
//!   or Friday at 4") is a question about `date_time`.
//! - **Days**: "next Tuesday" and a bare "Tuesday" are the first Tuesday after today (a week ahead
//!   when said on a Tuesday); "next week on Thursday" is the Thursday of the following
//!   Monday-to-Sunday week; "in two weeks" is fourteen days from today, on today's weekday unless
//!   a weekday is named ("in 4 weeks on Monday": the Monday of that week; "a week from today" is
//!   the same as "in a week"); "the 24th" is the next
//!   24th after today; a month and day without a year is the next such date from today on.
//! - **"Same time"** is the start of the session being dictated (said in the dictation: "seen at
//!   4", "from 2:10 to 2:55"); without one, it is a `date_time` question.
//! - **Series**: "weekly" (interval 1), "every other week"/"biweekly" (interval 2), "monthly",
//!   with "for N weeks" or "N sessions" as COUNT (which includes the first visit). A series
//!   without an end is proposed without COUNT; the clinician or the commit sets the end.
//! - Words around a clock time that make it something else veto it: habits ("at 7 pm daily"),
//!   sleep ("waking at 3"), and a time with "today" in the first sentence, which is when the
//!   dictated session was held.

use std::ops::Range;

use jiff::civil::{Date, Weekday};

use super::clock::{TimeOfDay, time_at};
use super::text::Doc;

/// A day as said, not yet placed on the calendar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DayExpr {
    pub weekdays: Vec<Weekday>,
    /// "next week" (without "in").
    pub next_week: bool,
    /// "in N weeks".
    pub in_weeks: Option<i64>,
    /// "in N days".
    pub in_days: Option<i64>,
    /// "in N months".
    pub in_months: Option<i64>,
    pub tomorrow: bool,
    pub today: bool,
    /// Month (when said) and day of the month.
    pub date: Option<(Option<i8>, i8)>,
    pub tokens: Vec<Range<usize>>,
}

impl DayExpr {
    pub fn is_empty(&self) -> bool {
        self.weekdays.is_empty()
            && !self.next_week
            && self.in_weeks.is_none()
            && self.in_days.is_none()
            && self.in_months.is_none()
            && !self.tomorrow
            && !self.today
            && self.date.is_none()
    }

    /// Fills what `answer` says into this expression: the answer's day replaces the day said
    /// ("Thursday" for "Thursday or Friday"), keeping the week it was said for.
    pub fn answered_by(&self, answer: &DayExpr) -> DayExpr {
        let mut merged = self.clone();
        if !answer.weekdays.is_empty() {
            merged.weekdays.clone_from(&answer.weekdays);
        }
        if answer.date.is_some() || answer.tomorrow || answer.today || answer.in_days.is_some() {
            merged = answer.clone();
        }
        if answer.next_week || answer.in_weeks.is_some() || answer.in_months.is_some() {
            merged.next_week = answer.next_week;
            merged.in_weeks = answer.in_weeks;
            merged.in_months = answer.in_months;
        }
        merged
    }

    /// The calendar day, from `today`. `Err(())` when the expression names several days.
    pub fn resolve(&self, today: Date) -> Result<Option<Date>, ()> {
        if self.weekdays.len() > 1 {
            return Err(());
        }
        let weekday = self.weekdays.first().copied();
        if let Some((month, day)) = self.date {
            return Ok(resolve_date(today, month, day));
        }
        if self.today {
            return Ok(Some(today));
        }
        if self.tomorrow {
            return Ok(today.tomorrow().ok());
        }
        if let Some(days) = self.in_days {
            return Ok(add_days(today, days));
        }
        if let Some(months) = self.in_months {
            let base = jiff::Span::new()
                .try_months(months)
                .ok()
                .and_then(|span| today.checked_add(span).ok());
            return Ok(match (base, weekday) {
                (Some(base), Some(w)) => same_week(base, w),
                (base, _) => base,
            });
        }
        if let Some(weeks) = self.in_weeks.or(self.next_week.then_some(1)) {
            let base = add_days(today, weeks * 7);
            return Ok(match (base, weekday) {
                (Some(base), Some(w)) => same_week(base, w),
                (base, _) => base,
            });
        }
        Ok(weekday.and_then(|w| first_after(today, w)))
    }
}

fn add_days(date: Date, days: i64) -> Option<Date> {
    jiff::Span::new()
        .try_days(days)
        .ok()
        .and_then(|span| date.checked_add(span).ok())
}

/// The first `weekday` after `today` (a week ahead when today is that weekday).
pub(crate) fn first_after(today: Date, weekday: Weekday) -> Option<Date> {
    let ahead = i64::from(weekday.since(today.weekday()));
    add_days(today, if ahead == 0 { 7 } else { ahead })
}

/// `weekday` in the Monday-to-Sunday week holding `base`.
fn same_week(base: Date, weekday: Weekday) -> Option<Date> {
    let monday_offset = i64::from(base.weekday().to_monday_zero_offset());
    let offset = i64::from(weekday.to_monday_zero_offset());
    add_days(base, offset - monday_offset)
}

/// A month and day: the next such date from `today` on; a day alone: the next such day after
/// today.
fn resolve_date(today: Date, month: Option<i8>, day: i8) -> Option<Date> {
    match month {
        Some(month) => {
            let this_year = Date::new(today.year(), month, day).ok()?;
            if this_year >= today {
                Some(this_year)
            } else {
                Date::new(today.year() + 1, month, day).ok()
            }
        }
        None => {
            let mut first = today.first_of_month();
            for _ in 0..13 {
                if let Ok(date) = Date::new(first.year(), first.month(), day)
                    && date > today
                {
                    return Some(date);
                }
                first = first.checked_add(jiff::Span::new().months(1)).ok()?;
            }
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeSpec {
    Clock(TimeOfDay),
    /// "same time": the start of the dictated session.
    SameTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecurrenceSpec {
    pub freq: &'static str,
    pub interval: u32,
    pub count: Option<u32>,
    pub tokens: Range<usize>,
}

/// One appointment phrase, not yet placed on the calendar.
#[derive(Debug, Clone)]
pub(crate) struct AppointmentPhrase {
    pub day: DayExpr,
    pub time: TimeSpec,
    pub time_tokens: Range<usize>,
    pub recurrence: Option<RecurrenceSpec>,
    /// A length said for the appointment ("50-minute slots").
    pub duration: Option<(u32, Range<usize>)>,
    /// The sentence it was said in.
    pub sentence: Range<usize>,
}

impl AppointmentPhrase {
    pub fn evidence(&self) -> Vec<Range<usize>> {
        let mut spans = self.day.tokens.clone();
        spans.push(self.time_tokens.clone());
        if let Some(r) = &self.recurrence {
            spans.push(r.tokens.clone());
        }
        if let Some((_, d)) = &self.duration {
            spans.push(d.clone());
        }
        spans.sort_by_key(|r| r.start);
        spans
    }
}

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Monday),
    ("mondays", Weekday::Monday),
    ("mon", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("tuesdays", Weekday::Tuesday),
    ("tues", Weekday::Tuesday),
    ("tue", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("wednesdays", Weekday::Wednesday),
    ("wed", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("thursdays", Weekday::Thursday),
    ("thurs", Weekday::Thursday),
    ("thu", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("fridays", Weekday::Friday),
    ("fri", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("saturdays", Weekday::Saturday),
    ("sat", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
    ("sundays", Weekday::Sunday),
    ("sun", Weekday::Sunday),
];

const MONTHS: &[(&str, i8)] = &[
    ("january", 1),
    ("jan", 1),
    ("february", 2),
    ("feb", 2),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("june", 6),
    ("jun", 6),
    ("july", 7),
    ("jul", 7),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oct", 10),
    ("november", 11),
    ("nov", 11),
    ("december", 12),
    ("dec", 12),
];

fn weekday_of(word: &str) -> Option<Weekday> {
    WEEKDAYS.iter().find(|(w, _)| *w == word).map(|(_, d)| *d)
}

/// An ordinal day ("24", "24th") at `i`: (day, tokens).
fn day_number_at(doc: &Doc, i: usize) -> Option<(i8, usize)> {
    let day = i8::try_from(doc.tokens.get(i)?.number()?).ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let suffix = doc
        .tokens
        .get(i + 1)
        .filter(|t| t.joined && matches!(t.norm.as_str(), "st" | "nd" | "rd" | "th"));
    Some((day, if suffix.is_some() { 2 } else { 1 }))
}

/// The day expressions in `range` (one expression: its parts may be spread, "next week on
/// Thursday", "Tuesday, December 15th").
pub(crate) fn day_expr_in(doc: &Doc, range: Range<usize>) -> DayExpr {
    let mut day = DayExpr::default();
    let mut i = range.start;
    while i < range.end {
        let word = doc.norm(i);
        let mut covered = 1;
        // "two weeks from today", "a week from now"
        let from_now = count_and_unit(doc, i).filter(|(_, _, len)| {
            doc.matches_at(i + len, "from today") || doc.matches_at(i + len, "from now")
        });
        if let Some((n, unit, len)) = from_now {
            match unit {
                "week" => day.in_weeks = Some(n),
                "day" => day.in_days = Some(n),
                _ => day.in_months = Some(n),
            }
            day.tokens.push(i..i + len + 2);
            covered = len + 2;
        } else if let Some(w) = weekday_of(word) {
            // "mon"/"sun"/"sat"/"wed" as abbreviations only when capitalized or followed by a date.
            if word.len() > 3 || doc.tokens[i].capitalized {
                if !day.weekdays.contains(&w) {
                    day.weekdays.push(w);
                }
                day.tokens.push(i..i + 1);
            }
        } else if let Some(n) = doc.phrase_len_at(i, "next week").or_else(|| {
            doc.phrase_len_at(i, "the following week")
                .or_else(|| doc.phrase_len_at(i, "the week after"))
        }) {
            day.next_week = true;
            day.tokens.push(i..i + n);
            covered = n;
        } else if word == "tomorrow" {
            day.tomorrow = true;
            day.tokens.push(i..i + 1);
        } else if word == "today"
            || word == "tonight"
            || word == "this" && doc.norm(i + 1) == "afternoon"
        {
            day.today = true;
            day.tokens.push(i..i + 1);
        } else if word == "in" {
            if let Some((n, unit, len)) = count_and_unit(doc, i + 1) {
                match unit {
                    "week" => day.in_weeks = Some(n),
                    "day" => day.in_days = Some(n),
                    "month" => day.in_months = Some(n),
                    _ => {}
                }
                day.tokens.push(i..i + 1 + len);
                covered = 1 + len;
            }
        } else if let Some(month) = MONTHS.iter().find(|(m, _)| *m == word).map(|(_, m)| *m) {
            let mut j = i + 1;
            if doc.norm(j) == "the" {
                j += 1;
            }
            if let Some((d, n)) = day_number_at(doc, j) {
                day.date = Some((Some(month), d));
                day.tokens.push(i..j + n);
                covered = j + n - i;
            }
        } else if word == "the"
            && let Some((d, n)) = day_number_at(doc, i + 1)
            && n == 2
        {
            if day.date.is_none() {
                day.date = Some((None, d));
            }
            day.tokens.push(i..i + 1 + n);
            covered = 1 + n;
        } else if let Some(m) = doc.tokens[i].number()
            && doc.norm(i + 1) == "/"
            && doc.tokens.get(i + 1).is_some_and(|t| t.joined)
            && let Some((d, _)) = day_number_at(doc, i + 2)
            && (1..=12).contains(&m)
        {
            day.date = Some((i8::try_from(m).ok(), d));
            day.tokens.push(i..i + 3);
            covered = 3;
        }
        i += covered;
    }
    day
}

/// "two weeks", "a week", "4 weeks", "a couple of weeks": (count, unit, tokens).
fn count_and_unit(doc: &Doc, i: usize) -> Option<(i64, &'static str, usize)> {
    let (n, len) = if doc.matches_at(i, "a couple of") {
        (2, 3)
    } else if matches!(doc.norm(i), "a" | "an" | "one") {
        (1, 1)
    } else {
        let (n, len) = doc.number_at(i)?;
        (i64::from(n), len)
    };
    let unit = match doc.norm(i + len) {
        "week" | "weeks" | "wk" | "wks" => "week",
        "day" | "days" => "day",
        "month" | "months" | "mo" => "month",
        _ => return None,
    };
    Some((n, unit, len + 1))
}

/// The series a sentence asks for, if any.
fn recurrence_in(doc: &Doc, sentence: Range<usize>) -> Option<RecurrenceSpec> {
    const EVERY_OTHER: &[&str] = &[
        "every other week",
        "every two weeks",
        "every 2 weeks",
        "biweekly",
        "bi-weekly",
        "fortnightly",
        "every second week",
    ];
    const WEEKLY: &[&str] = &["weekly", "every week", "each week", "once a week"];
    const MONTHLY: &[&str] = &["monthly", "every month", "once a month", "every four weeks"];
    let (freq, interval, tokens) = if let Some(t) = doc.find_any(sentence.clone(), EVERY_OTHER) {
        ("WEEKLY", 2, t)
    } else if let Some(t) = doc.find_any(sentence.clone(), WEEKLY) {
        ("WEEKLY", 1, t)
    } else if let Some(t) = doc.find_any(sentence.clone(), MONTHLY) {
        ("MONTHLY", 1, t)
    } else {
        return None;
    };
    let mut count = None;
    let mut end = tokens.end;
    // "for six weeks", "for the next 6 weeks", "for 8 sessions", "6 sessions"
    for i in sentence.clone() {
        let mut j = i;
        if doc.norm(j) != "for" {
            continue;
        }
        j += 1;
        if doc.matches_at(j, "the next") {
            j += 2;
        }
        if let Some((n, len)) = doc.number_at(j) {
            match doc.norm(j + len) {
                "weeks" | "week" if freq == "WEEKLY" => {
                    count = Some(n.div_ceil(interval).max(1));
                }
                "months" | "month" if freq == "MONTHLY" => count = Some(n.max(1)),
                "sessions" | "visits" | "appointments" => count = Some(n),
                _ => continue,
            }
            end = end.max(j + len + 1);
            break;
        }
    }
    if count.is_none() {
        for i in sentence.clone() {
            if let Some((n, len)) = doc.number_at(i)
                && matches!(doc.norm(i + len), "sessions" | "visits")
                && n > 1
            {
                count = Some(n);
                end = end.max(i + len + 1);
                break;
            }
        }
    }
    Some(RecurrenceSpec {
        freq,
        interval,
        count,
        tokens: tokens.start.min(end)..end.max(tokens.end),
    })
}

/// Words for booking a visit; a clock time with one of these but no day is a question.
const VISIT_WORDS: &[&str] = &[
    "session",
    "appointment",
    "appt",
    "visit",
    "follow-up",
    "follow up",
    "followup",
    "see her",
    "see him",
    "see them",
    "see you",
    "book",
    "come back",
    "return",
    "recheck",
    "check in",
    "check-in",
];
/// A clock time followed by these is a routine, not an appointment ("worry time at 7 pm daily").
const HABIT_AFTER: &[&str] = &[
    "daily",
    "nightly",
    "every day",
    "every night",
    "each day",
    "each night",
    "most nights",
    "most days",
    "every morning",
    "each morning",
    "in the morning",
    "at night",
];
/// A clock time after these is a symptom or a routine ("waking at 3").
const HABIT_BEFORE: &[&str] = &[
    "wake", "wakes", "waking", "woke", "awake", "sleep", "sleeps", "slept", "bed", "bedtime",
    "until", "since", "after", "before", "eats", "drinks", "response", "level", "score",
];

/// The outcome of reading the dictation's appointment phrases.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schedule {
    pub appointments: Vec<AppointmentPhrase>,
    /// When the dictated session started, if said ("seen at 4 today", "session at 5:30").
    pub session_start: Option<(TimeOfDay, Range<usize>)>,
}

/// Reads the appointment phrases and the session's start. `consumed` are token ranges already
/// read as something else (a session's time range).
pub(crate) fn read_schedule(doc: &Doc, consumed: &[Range<usize>]) -> Schedule {
    let mut schedule = Schedule::default();
    let header = doc.header();
    for sentence in &doc.sentences {
        let mut previous_time_end = sentence.start;
        let mut i = sentence.start;
        while i < sentence.end {
            if consumed.iter().any(|c| c.contains(&i)) {
                i += 1;
                continue;
            }
            let Some((time, time_tokens)) = time_mention_at(doc, i) else {
                i += 1;
                continue;
            };
            let next = time_tokens.end;
            let before_start = window_start(
                doc,
                time_tokens.start,
                previous_time_end.max(sentence.start),
            );
            let after_end = window_end(doc, time_tokens.end, sentence.end);
            let mut day = day_expr_in(doc, before_start..time_tokens.start);
            let after = day_expr_in(doc, time_tokens.end..after_end);
            merge(&mut day, after);
            previous_time_end = next;
            i = next;

            let lead = time_tokens.start;
            let vetoed = HABIT_AFTER
                .iter()
                .any(|p| doc.matches_at(time_tokens.end, p))
                || HABIT_BEFORE.contains(&doc.norm(lead.wrapping_sub(1)))
                || HABIT_BEFORE.contains(&doc.norm(lead.wrapping_sub(2))) && doc.norm(lead) == "at";
            if vetoed {
                continue;
            }
            let in_header = sentence == &header;
            let clause = clause_around(doc, time_tokens.clone(), sentence.clone());
            let booking = doc.has_any(clause.clone(), VISIT_WORDS)
                || doc.has_any(
                    sentence.clone(),
                    &["schedule", "scheduled", "book", "booked"],
                ) && !day.is_empty();
            if day.today && !booking || in_header && (day.is_empty() || day.today) {
                // When the dictated session was held.
                if let TimeSpec::Clock(t) = time
                    && schedule.session_start.is_none()
                {
                    schedule.session_start = Some((t, time_tokens.clone()));
                }
                continue;
            }
            if day.is_empty() && !(booking || time == TimeSpec::SameTime) {
                continue;
            }
            let recurrence = recurrence_in(doc, sentence.clone());
            schedule.appointments.push(AppointmentPhrase {
                day,
                time,
                time_tokens,
                recurrence,
                duration: None,
                sentence: sentence.clone(),
            });
        }
    }
    schedule
}

fn merge(into: &mut DayExpr, other: DayExpr) {
    for w in other.weekdays {
        if !into.weekdays.contains(&w) {
            into.weekdays.push(w);
        }
    }
    into.next_week |= other.next_week;
    into.in_weeks = into.in_weeks.or(other.in_weeks);
    into.in_days = into.in_days.or(other.in_days);
    into.in_months = into.in_months.or(other.in_months);
    into.tomorrow |= other.tomorrow;
    into.today |= other.today;
    into.date = into.date.or(other.date);
    into.tokens.extend(other.tokens);
}

/// A clock time ("at 3", "10:30 am", "noon") or "same time" at `i`.
fn time_mention_at(doc: &Doc, i: usize) -> Option<(TimeSpec, Range<usize>)> {
    if let Some(n) = doc.phrase_len_at(i, "same time") {
        return Some((TimeSpec::SameTime, i..i + n));
    }
    if matches!(doc.norm(i), "at" | "@")
        && let Some((t, end)) = time_at(doc, i + 1, true)
    {
        return Some((TimeSpec::Clock(t), i..end));
    }
    // A clock time without "at" must look like one ("4 pm", "10:30"), and not be a ratio or a
    // score ("128/80", "7 to 3").
    if doc.norm(i.wrapping_sub(1)) == "at" {
        return None;
    }
    let (t, end) = time_at(doc, i, false)?;
    if doc.norm(i.wrapping_sub(1)) == "/" || doc.norm(end) == "/" {
        return None;
    }
    Some((TimeSpec::Clock(t), i..end))
}

/// Where to look back for a time's day: up to ten tokens, not past a ';' or the previous time.
fn window_start(doc: &Doc, from: usize, floor: usize) -> usize {
    let mut start = from;
    while start > floor && from - start < 10 && !matches!(doc.norm(start - 1), ";" | "." | ":") {
        start -= 1;
    }
    start
}

/// Where to look ahead: up to five tokens, not past punctuation ("same time next week").
fn window_end(doc: &Doc, from: usize, ceiling: usize) -> usize {
    let mut end = from;
    while end < ceiling && end - from < 5 && !matches!(doc.norm(end), ";" | "," | "." | ":") {
        if time_mention_at(doc, end).is_some() {
            break;
        }
        end += 1;
    }
    end
}

/// The comma-separated clause around a time.
fn clause_around(doc: &Doc, time: Range<usize>, sentence: Range<usize>) -> Range<usize> {
    let mut start = time.start;
    while start > sentence.start && !matches!(doc.norm(start - 1), "," | ";" | ":") {
        start -= 1;
    }
    let mut end = time.end;
    while end < sentence.end && !matches!(doc.norm(end), "," | ";" | ".") {
        end += 1;
    }
    start..end
}

/// The day and time a clinician's answer gives ("Thursday", "next Friday at 2", "March 3").
pub(crate) fn day_and_time_in_answer(answer: &str) -> (DayExpr, Option<TimeOfDay>) {
    let doc = Doc::new(answer);
    let day = day_expr_in(&doc, 0..doc.tokens.len());
    let time = (0..doc.tokens.len()).find_map(|i| match time_mention_at(&doc, i) {
        Some((TimeSpec::Clock(t), _)) => Some(t),
        _ => None,
    });
    (day, time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn read(text: &str) -> Schedule {
        let doc = Doc::new(text);
        read_schedule(&doc, &[])
    }

    type Resolved = (Option<Date>, Option<(u8, u8)>);

    fn resolved(text: &str, today: Date) -> Vec<Resolved> {
        read(text)
            .appointments
            .iter()
            .map(|a| {
                let day = a.day.resolve(today).ok().flatten();
                let time = match a.time {
                    TimeSpec::Clock(t) => Some(t.hhmm()),
                    TimeSpec::SameTime => None,
                };
                (day, time)
            })
            .collect()
    }

    // 2026-03-10 is a Tuesday.
    const TUESDAY: Date = date(2026, 3, 10);

    #[test]
    fn next_weekday_is_the_first_after_today() {
        assert_eq!(
            resolved("Header. Schedule her next Tuesday at 3.", TUESDAY),
            [(Some(date(2026, 3, 17)), Some((15, 0)))]
        );
        assert_eq!(
            resolved("Header. See him Thursday at 10am.", TUESDAY),
            [(Some(date(2026, 3, 12)), Some((10, 0)))]
        );
        assert_eq!(
            resolved("Header. Next week on Thursday at 5.", TUESDAY),
            [(Some(date(2026, 3, 19)), Some((17, 0)))]
        );
    }

    #[test]
    fn relative_weeks_dates_and_ordinals() {
        assert_eq!(
            resolved("Header. Come back in two weeks at 10 am.", TUESDAY),
            [(Some(date(2026, 3, 24)), Some((10, 0)))]
        );
        assert_eq!(
            resolved("Header. Next visit in 4 weeks on Monday at 2:30.", TUESDAY),
            [(Some(date(2026, 4, 6)), Some((14, 30)))]
        );
        assert_eq!(
            resolved("Header. Recheck in 8 weeks on July 22 at 9 am.", TUESDAY),
            [(Some(date(2026, 7, 22)), Some((9, 0)))]
        );
        assert_eq!(
            resolved("Header. Starting Thursday the 24th at 2 pm.", TUESDAY),
            [(Some(date(2026, 3, 24)), Some((14, 0)))]
        );
        assert_eq!(
            resolved(
                "Header. See him back Tuesday, December 15th at 1:30.",
                TUESDAY
            ),
            [(Some(date(2026, 12, 15)), Some((13, 30)))]
        );
        assert_eq!(
            resolved("Header. Next appointment 3/2 at noon.", TUESDAY),
            [(Some(date(2027, 3, 2)), Some((12, 0)))]
        );
        assert_eq!(
            resolved("Header. See him a week from today at 3:00 p.m.", TUESDAY),
            [(Some(date(2026, 3, 17)), Some((15, 0)))]
        );
        assert_eq!(
            resolved("Header. Check in tomorrow at 9.", TUESDAY),
            [(Some(date(2026, 3, 11)), Some((9, 0)))]
        );
    }

    #[test]
    fn same_time_and_the_session_start() {
        let s = read("Hannah, seen at 4 today for 52 minutes. Same time next week.");
        assert_eq!(s.session_start.map(|(t, _)| t.hhmm()), Some((16, 0)));
        assert_eq!(s.appointments.len(), 1);
        assert_eq!(s.appointments[0].time, TimeSpec::SameTime);
        assert_eq!(
            s.appointments[0].day.resolve(TUESDAY),
            Ok(Some(date(2026, 3, 17)))
        );
    }

    #[test]
    fn habits_symptoms_and_unbooked_follow_ups_are_not_appointments() {
        for text in [
            "Header. Still waking at 3 most nights.",
            "Header. Plan: scheduled worry time at 7 pm daily.",
            "Header. Return in 4 weeks.",
            "Header. Partial response at 50.",
            "Header. BP 128/80 today.",
            "Header. She is sleeping until noon.",
            "Header. Schedule her again soon.",
        ] {
            assert!(read(text).appointments.is_empty(), "{text}");
        }
    }

    #[test]
    fn a_time_without_a_day_or_with_two_days_cannot_be_resolved() {
        let s = read("Header. Book his next session at 2pm.");
        assert_eq!(s.appointments.len(), 1);
        assert!(s.appointments[0].day.is_empty());
        let s = read("Header. Book her next week on Thursday or Friday at 4.");
        assert_eq!(s.appointments[0].day.resolve(TUESDAY), Err(()));
        let (answer, _) = day_and_time_in_answer("Thursday");
        let merged = s.appointments[0].day.answered_by(&answer);
        assert_eq!(merged.resolve(TUESDAY), Ok(Some(date(2026, 3, 19))));
    }

    #[test]
    fn series() {
        let s = read("Header. Set him up weekly for 6 weeks starting next Monday at 9.");
        let r = s.appointments[0].recurrence.clone().unwrap();
        assert_eq!((r.freq, r.interval, r.count), ("WEEKLY", 1, Some(6)));
        let s = read("Header. Moving him to every other week, starting Thursday the 24th at 2 pm.");
        let r = s.appointments[0].recurrence.clone().unwrap();
        assert_eq!((r.freq, r.interval, r.count), ("WEEKLY", 2, None));
        let s = read("Header. Biweekly for 8 weeks from next Monday at 9.");
        assert_eq!(
            s.appointments[0].recurrence.as_ref().unwrap().count,
            Some(4)
        );
        let s = read("Header. Next Tuesday at 4.");
        assert!(s.appointments[0].recurrence.is_none());
    }
}
