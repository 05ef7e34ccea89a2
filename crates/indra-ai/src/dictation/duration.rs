//! How long the session lasted: "50 minutes", "fifty-five minutes", "an hour and a half",
//! "1.5 hours", "half-hour", "from 2:10 to 2:55", and for medication visits the separately stated
//! psychotherapy minutes ("45 minutes total, of which 20 were psychotherapy").
//!
//! Dictations are full of durations that are not the session's: "walking 20 minutes most days",
//! "settled within 10 minutes", "sleeping about 4 hours", "50-minute slots" for the next
//! appointments. A duration is the session's only when nothing around it says otherwise; among
//! those left, one marked as the total ("in all", "total") wins, then the first.

use std::ops::Range;

use super::clock::{TimeOfDay, time_at};
use super::text::Doc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The whole session ("55 minutes in all").
    Total,
    /// Plain: the session's length unless something better is stated.
    Plain,
    /// Minutes of psychotherapy beside an E/M visit.
    Psychotherapy,
    /// Minutes of the medication (E/M) part of a visit.
    Medical,
    /// Not the session's: a habit, a symptom, a wait ("20 minutes a day", "within 10 minutes").
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct DurationMention {
    pub minutes: u32,
    pub tokens: Range<usize>,
    pub role: Role,
    /// For a time range: when the session began.
    pub started_at: Option<TimeOfDay>,
}

/// Every duration in the text, each with its role.
pub(crate) fn find_durations(doc: &Doc) -> Vec<DurationMention> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < doc.tokens.len() {
        if let Some((mention, next)) = time_range_at(doc, i).or_else(|| duration_at(doc, i)) {
            out.push(mention);
            i = next;
        } else {
            i += 1;
        }
    }
    for m in &mut out {
        if m.started_at.is_none() {
            m.role = role_of(doc, m.tokens.clone());
        }
        // No outpatient session lasts a day: a number that large is something else.
        if m.minutes == 0 || m.minutes > MAX_SESSION_MINUTES {
            m.role = Role::Other;
        }
    }
    out
}

/// The session's minutes and, for a medication visit, the psychotherapy minutes within them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionLength {
    pub minutes: u32,
    pub psychotherapy_minutes: Option<u32>,
    pub evidence: Vec<Range<usize>>,
    pub started_at: Option<TimeOfDay>,
}

/// Chooses the session's length among the durations outside `excluded` (appointment phrases).
pub(crate) fn session_length(
    mentions: &[DurationMention],
    excluded: &[Range<usize>],
    medication_visit: bool,
) -> Option<SessionLength> {
    let usable: Vec<&DurationMention> = mentions
        .iter()
        .filter(|m| m.role != Role::Other)
        .filter(|m| !excluded.iter().any(|e| e.contains(&m.tokens.start)))
        .collect();
    let first_of = |role: Role| usable.iter().find(|m| m.role == role).copied();
    let psychotherapy = first_of(Role::Psychotherapy);
    let medical = first_of(Role::Medical);
    let total = first_of(Role::Total);
    let plain = usable
        .iter()
        .find(|m| m.role == Role::Plain || (m.role == Role::Psychotherapy && !medication_visit))
        .copied();
    let mut evidence = Vec::new();
    let minutes = if let Some(total) = total {
        evidence.push(total.tokens.clone());
        total.minutes
    } else if medication_visit && let (Some(p), Some(m)) = (psychotherapy, medical) {
        evidence.push(m.tokens.clone());
        evidence.push(p.tokens.clone());
        p.minutes.saturating_add(m.minutes)
    } else if let Some(plain) = plain {
        evidence.push(plain.tokens.clone());
        plain.minutes
    } else if let Some(m) = medical {
        evidence.push(m.tokens.clone());
        m.minutes
    } else {
        return None;
    };
    let psychotherapy_minutes = if medication_visit {
        psychotherapy.map(|p| {
            if !evidence.contains(&p.tokens) {
                evidence.push(p.tokens.clone());
            }
            p.minutes
        })
    } else {
        None
    };
    let started_at = usable.iter().find_map(|m| m.started_at);
    Some(SessionLength {
        minutes,
        psychotherapy_minutes,
        evidence,
        started_at,
    })
}

/// The minutes a clinician's answer gives ("50 minutes", "fifty", "an hour").
pub(crate) fn minutes_in_answer(answer: &str) -> Option<u32> {
    let doc = Doc::new(answer);
    if let Some(m) = find_durations(&doc).first() {
        return Some(m.minutes);
    }
    // A bare number is minutes.
    (0..doc.tokens.len()).find_map(|i| doc.number_at(i).map(|(n, _)| n))
}

/// The longest session a dictation can mean (an extended crisis intervention).
const MAX_SESSION_MINUTES: u32 = 8 * 60;

const MINUTE_WORDS: &[&str] = &["minutes", "minute", "min", "mins", "mns"];
const HOUR_WORDS: &[&str] = &["hours", "hour", "hrs", "hr"];

/// "from 2:10 to 2:55", "2:10-2:55 pm", "10:05 to 10:50".
fn time_range_at(doc: &Doc, i: usize) -> Option<(DurationMention, usize)> {
    let mut j = i;
    if doc.norm(j) == "from" {
        j += 1;
    }
    let (start, after_start) = time_at(doc, j, false)?;
    let mut k = after_start;
    if doc.norm(k) == "to" || doc.norm(k) == "-" || doc.norm(k) == "until" || doc.norm(k) == "till"
    {
        k += 1;
    } else {
        return None;
    }
    let (end, after_end) = time_at(doc, k, false)?;
    // A range needs a clock time on at least one side ("2:10", "3 pm"): "from 7 to 3" on a
    // distress scale is not a session.
    if !(start.explicit || end.explicit) {
        return None;
    }
    let (start, end) = TimeOfDay::range(start, end);
    let minutes = end.minutes_of_day().checked_sub(start.minutes_of_day())?;
    if minutes == 0 || minutes > 6 * 60 {
        return None;
    }
    Some((
        DurationMention {
            minutes,
            tokens: i..after_end,
            role: Role::Plain,
            started_at: Some(start),
        },
        after_end,
    ))
}

/// A duration at `i`, with the index after it.
fn duration_at(doc: &Doc, i: usize) -> Option<(DurationMention, usize)> {
    let mention = |minutes: u32, end: usize| {
        Some((
            DurationMention {
                minutes,
                tokens: i..end,
                role: Role::Plain,
                started_at: None,
            },
            end,
        ))
    };
    // "half an hour", "half-hour", "half hour"
    for phrase in [
        "half an hour",
        "half-hour",
        "half hour",
        "a half hour",
        "a half-hour",
    ] {
        if let Some(n) = doc.phrase_len_at(i, phrase) {
            return mention(30, i + n);
        }
    }
    // "an hour and a half", "an hour and fifteen minutes", "one hour", "1.5 hours", "2 hours"
    let (hours_x2, after_number) = if let Some(n) = doc
        .phrase_len_at(i, "an")
        .or_else(|| doc.phrase_len_at(i, "a"))
        .filter(|_| HOUR_WORDS.contains(&doc.norm(i + 1)))
    {
        (2, i + n)
    } else if let Some((whole, n)) = doc.number_at(i) {
        // "1.5"
        if doc.norm(i + n) == "."
            && doc.tokens.get(i + n).is_some_and(|t| t.joined)
            && doc.norm(i + n + 1) == "5"
            && doc.tokens.get(i + n + 1).is_some_and(|t| t.joined)
        {
            (whole.saturating_mul(2).saturating_add(1), i + n + 2)
        } else if doc.matches_at(i + n, "and a half") && HOUR_WORDS.contains(&doc.norm(i + n + 3)) {
            (whole.saturating_mul(2).saturating_add(1), i + n + 3)
        } else {
            (whole.saturating_mul(2), i + n)
        }
    } else {
        return None;
    };
    let mut j = after_number;
    if doc.norm(j) == "-" {
        j += 1;
    }
    let unit = doc.norm(j);
    if MINUTE_WORDS.contains(&unit) {
        if hours_x2 % 2 == 1 {
            return None;
        }
        return mention(hours_x2 / 2, j + 1);
    }
    if !HOUR_WORDS.contains(&unit) {
        return None;
    }
    let mut minutes = hours_x2.saturating_mul(30);
    let mut end = j + 1;
    // "an hour and a half", "an hour and fifteen minutes", "1 hour 15 minutes"
    if doc.matches_at(end, "and a half") {
        minutes = minutes.saturating_add(30);
        end += 3;
    } else {
        let mut k = end;
        if doc.norm(k) == "and" {
            k += 1;
        }
        if let Some((extra, n)) = doc.number_at(k)
            && MINUTE_WORDS.contains(&doc.norm(k + n))
        {
            minutes = minutes.saturating_add(extra);
            end = k + n + 1;
        }
    }
    mention(minutes, end)
}

/// Words before a duration that make it something other than the session ("within 10 minutes").
const NOT_SESSION_BEFORE: &[&str] = &[
    "within", "after", "in", "every", "each", "per", "under", "last", "first", "another",
];
/// Words after a duration that make it something other than the session.
const NOT_SESSION_AFTER: &[&str] = &[
    "a day",
    "a night",
    "a week",
    "each",
    "every",
    "per",
    "most",
    "daily",
    "nightly",
    "later",
    "ago",
    "early",
    "late",
    "of sleep",
    "at a time",
    "before",
    "afterward",
    "afterwards",
    "slot",
    "slots",
    "appointment",
    "appointments",
    "follow-up",
    "a session",
];
/// Words near a duration that make it a habit or a symptom.
const SLEEP_AND_HABITS: &[&str] = &[
    "sleep", "sleeping", "slept", "asleep", "awake", "bedtime", "nap", "naps", "walking", "walk",
    "walks", "exercise", "running", "taking", "takes", "spends", "spending", "commute", "drive",
    "attack", "attacks",
];

fn role_of(doc: &Doc, tokens: Range<usize>) -> Role {
    let before = doc.norm(tokens.start.wrapping_sub(1));
    let before2 = doc.norm(tokens.start.wrapping_sub(2));
    let about = before == "about" || before == "around" || before == "roughly";
    let lead = if about { before2 } else { before };
    if NOT_SESSION_BEFORE.contains(&lead) {
        return Role::Other;
    }
    let after = tokens.end;
    if NOT_SESSION_AFTER.iter().any(|p| doc.matches_at(after, p)) {
        return Role::Other;
    }
    // The words before it in its clause (not past a comma: "walk-in, 50 minutes").
    let mut clause_start = tokens.start;
    while clause_start > tokens.start.saturating_sub(4)
        && !matches!(doc.norm(clause_start - 1), "," | ";" | ":" | ".")
    {
        clause_start -= 1;
    }
    let window = clause_start..tokens.start;
    let crisis_or_session_lasting = doc.has_any(
        tokens.start.saturating_sub(3)..tokens.start,
        &["session", "intervention", "visit", "evaluation", "intake"],
    );
    if !crisis_or_session_lasting && doc.has_any(window, SLEEP_AND_HABITS) {
        return Role::Other;
    }
    // What follows within the clause: "total", "of psychotherapy", "on the med side".
    let sentence = doc.sentence_of(tokens.start);
    let mut clause_end = after;
    while clause_end < sentence.end
        && clause_end < after + 6
        && !matches!(doc.norm(clause_end), "," | ";" | ":" | ".")
    {
        clause_end += 1;
    }
    let following = after..clause_end;
    if doc.has_any(
        after..after + 3,
        &["total", "in all", "altogether", "overall", "in total"],
    ) || matches!(before, "total") && before2 != "a"
        || doc.matches_at(tokens.start.wrapping_sub(3), "a total of")
    {
        return Role::Total;
    }
    if doc.has_any(
        following.clone(),
        &[
            "psychotherapy",
            "therapy",
            "counseling",
            "counselling",
            "talk therapy",
        ],
    ) || doc.has_any(
        tokens.start.saturating_sub(3)..tokens.start,
        &["psychotherapy for", "therapy for"],
    ) {
        return Role::Psychotherapy;
    }
    if doc.has_any(
        following,
        &[
            "med",
            "meds",
            "medication",
            "medications",
            "e/m",
            "medical",
            "prescribing",
            "pharmacologic",
        ],
    ) {
        return Role::Medical;
    }
    Role::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(text: &str) -> Vec<(u32, Role)> {
        let doc = Doc::new(text);
        find_durations(&doc)
            .into_iter()
            .map(|m| (m.minutes, m.role))
            .collect()
    }

    #[test]
    fn digits_words_and_hours() {
        assert_eq!(minutes("Saw him for 45 minutes."), [(45, Role::Plain)]);
        assert_eq!(minutes("a 53-minute session"), [(53, Role::Plain)]);
        assert_eq!(minutes("for fifty-five minutes"), [(55, Role::Plain)]);
        assert_eq!(minutes("One hour session"), [(60, Role::Plain)]);
        assert_eq!(
            minutes("Crisis session, an hour and a half."),
            [(90, Role::Plain)]
        );
        assert_eq!(
            minutes("Blackwood, 1.5 hours, individual"),
            [(90, Role::Plain)]
        );
        assert_eq!(minutes("Half-hour check-in"), [(30, Role::Plain)]);
        assert_eq!(minutes("an hour and fifteen minutes"), [(75, Role::Plain)]);
        assert_eq!(minutes("lasting 110 minutes"), [(110, Role::Plain)]);
    }

    #[test]
    fn time_ranges_give_minutes_and_the_start() {
        let doc = Doc::new("Session from 2:10 to 2:55 today");
        let found = find_durations(&doc);
        assert_eq!(found[0].minutes, 45);
        assert_eq!(found[0].started_at.map(|t| t.hhmm()), Some((14, 10)));
        assert_eq!(minutes("from 11:30 to 12:20"), [(50, Role::Plain)]);
        assert_eq!(minutes("SUDS came down from 7 to 3"), []);
    }

    #[test]
    fn habits_symptoms_and_waits_are_not_the_session() {
        for text in [
            "walking 20 minutes most days",
            "settled within 10 minutes",
            "he's sleeping about 4 hours",
            "came down within about 15 minutes",
            "cap it at an hour a day",
            "50-minute slots",
            "taking over an hour each morning",
        ] {
            assert!(
                minutes(text).iter().all(|(_, r)| *r == Role::Other),
                "{text}: {:?}",
                minutes(text)
            );
        }
    }

    #[test]
    fn totals_and_parts_of_a_medication_visit() {
        let doc = Doc::new(
            "medication management plus therapy: 15 minutes for the medication part and 40 \
             minutes of psychotherapy, 55 minutes in all.",
        );
        let found = find_durations(&doc);
        let roles: Vec<Role> = found.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::Medical, Role::Psychotherapy, Role::Total]);
        let length = session_length(&found, &[], true).unwrap();
        assert_eq!(
            (length.minutes, length.psychotherapy_minutes),
            (55, Some(40))
        );

        let doc = Doc::new("25 minutes on the med side and a separate 20 minutes of psychotherapy");
        let length = session_length(&find_durations(&doc), &[], true).unwrap();
        assert_eq!(
            (length.minutes, length.psychotherapy_minutes),
            (45, Some(20))
        );

        // Outside a medication visit, "45 minutes of family therapy" is the session.
        let doc = Doc::new("Met with the parents, 45 minutes of family therapy.");
        let length = session_length(&find_durations(&doc), &[], false).unwrap();
        assert_eq!((length.minutes, length.psychotherapy_minutes), (45, None));
    }

    #[test]
    fn no_duration_is_none() {
        let doc =
            Doc::new("Individual session with Grant this afternoon, checking boards until 2.");
        assert_eq!(session_length(&find_durations(&doc), &[], false), None);
    }

    #[test]
    fn answers() {
        assert_eq!(minutes_in_answer("50 minutes"), Some(50));
        assert_eq!(minutes_in_answer("about fifty"), Some(50));
        assert_eq!(minutes_in_answer("an hour"), Some(60));
        assert_eq!(minutes_in_answer("not sure"), None);
    }
}
