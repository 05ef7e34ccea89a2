//! Finding a patient from what a clinician types: a name (typos and the start of a name
//! welcome), a date of birth (`1988-04-12` or `04/12/1988`), or a record number (MRN, whole or
//! its beginning).
//!
//! Reading the words is pure and decided here; the search itself is `app.search_patients`
//! (migration 0012), which keeps the organization wall in the database while using the trigram
//! index (see the migration for why it is a function).

use sqlx::PgConnection;
use time::{Date, Month};

use super::demographics::PatientSummary;
use crate::error::ApiError;

/// The longest query read; longer is refused.
pub const MAX_QUERY_CHARS: usize = 100;
/// Name words used; the longest ones drive the search.
pub const MAX_NAME_WORDS: usize = 3;

/// What a search looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientQuery {
    /// Lowercase words of a name, longest first, at least two letters each.
    Name(Vec<String>),
    /// A date of birth.
    BornOn(Date),
    /// The upper-cased start of a record number.
    RecordNumber(String),
}

impl PatientQuery {
    /// Reads `q`. A date of birth is `YYYY-MM-DD` or `MM/DD/YYYY`; anything else with a digit is a
    /// record number; the rest is a name. Errors name the parameter `q`.
    pub fn parse(q: &str) -> Result<Self, ApiError> {
        let q = q.trim();
        if q.is_empty() {
            return Err(ApiError::invalid(
                "q",
                "type a name, a date of birth or a record number",
            ));
        }
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::invalid(
                "q",
                format!("at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        if let Some(date) = date_of_birth(q) {
            return date
                .map(Self::BornOn)
                .ok_or_else(|| ApiError::invalid("q", "not a date: use YYYY-MM-DD or MM/DD/YYYY"));
        }
        if q.chars().any(|c| c.is_ascii_digit()) {
            if q.len() <= 32 && q.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Ok(Self::RecordNumber(q.to_ascii_uppercase()));
            }
            return Err(ApiError::invalid(
                "q",
                "a record number has only letters, digits and dashes; a name has no digits",
            ));
        }
        let mut words: Vec<String> = q
            .split(|c: char| c.is_whitespace() || c == ',')
            .map(str::to_lowercase)
            .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
            .collect();
        if words.is_empty() {
            return Err(ApiError::invalid(
                "q",
                "type at least two letters of a name",
            ));
        }
        // Longest first: the longest word has the most trigrams, so it narrows the index scan most.
        words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
        words.truncate(MAX_NAME_WORDS);
        Ok(Self::Name(words))
    }
}

/// `Some(Some(date))` for a date, `Some(None)` for something shaped like a date that is not one
/// (`02/30/1988`), `None` when it is not date-shaped at all.
fn date_of_birth(q: &str) -> Option<Option<Date>> {
    let numbers = |parts: &[&str], widths: [std::ops::RangeInclusive<usize>; 3]| {
        (parts.len() == 3
            && parts
                .iter()
                .zip(widths.iter())
                .all(|(p, w)| w.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())))
        .then(|| {
            parts
                .iter()
                .map(|p| p.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        })
    };
    let (year, month, day) =
        if let Some(n) = numbers(&q.split('-').collect::<Vec<_>>(), [4..=4, 1..=2, 1..=2]) {
            (n[0], n[1], n[2])
        } else if let Some(n) = numbers(&q.split('/').collect::<Vec<_>>(), [1..=2, 1..=2, 4..=4]) {
            (n[2], n[0], n[1])
        } else {
            return None;
        };
    let date = Month::try_from(u8::try_from(month).unwrap_or(0))
        .ok()
        .and_then(|m| {
            Date::from_calendar_date(i32::try_from(year).ok()?, m, u8::try_from(day).ok()?).ok()
        });
    Some(date)
}

/// The best `limit` matches (1-200) of the caller's organization, best first. Runs on the
/// caller's connection: `app.search_patients` reads the organization from its claims.
pub async fn search_patients(
    conn: &mut PgConnection,
    query: &PatientQuery,
    limit: i64,
) -> Result<Vec<PatientSummary>, ApiError> {
    let (words, born_on, mrn) = match query {
        PatientQuery::Name(words) => (Some(words.as_slice()), None, None),
        PatientQuery::BornOn(date) => (None, Some(*date), None),
        PatientQuery::RecordNumber(mrn) => (None, None, Some(mrn.as_str())),
    };
    Ok(sqlx::query_as(
        "select id, mrn, first_name, last_name, preferred_name, date_of_birth, status::text as status,
                primary_provider_id, created_at, rank
           from app.search_patients($1, $2, $3, $4::int)",
    )
    .bind(words)
    .bind(born_on)
    .bind(mrn)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
    }

    #[test]
    fn dates_of_birth_in_both_spellings() {
        assert_eq!(
            PatientQuery::parse("1988-04-12").unwrap(),
            PatientQuery::BornOn(date(1988, 4, 12))
        );
        assert_eq!(
            PatientQuery::parse(" 04/12/1988 ").unwrap(),
            PatientQuery::BornOn(date(1988, 4, 12))
        );
        assert_eq!(
            PatientQuery::parse("4/2/1988").unwrap(),
            PatientQuery::BornOn(date(1988, 4, 2))
        );
    }

    #[test]
    fn impossible_dates_are_refused_naming_q() {
        for q in ["02/30/1988", "1988-13-01", "1988-02-30"] {
            let problem = PatientQuery::parse(q).unwrap_err().problem();
            assert_eq!(
                (problem.status, problem.field.as_deref()),
                (422, Some("q")),
                "{q}"
            );
        }
    }

    #[test]
    fn record_numbers_have_a_digit() {
        assert_eq!(
            PatientQuery::parse("mrn-001-10").unwrap(),
            PatientQuery::RecordNumber("MRN-001-10".into())
        );
        assert_eq!(
            PatientQuery::parse("P1A2").unwrap(),
            PatientQuery::RecordNumber("P1A2".into())
        );
        assert!(PatientQuery::parse("Kettering 1988").is_err());
    }

    #[test]
    fn names_are_lowercase_words_longest_first() {
        assert_eq!(
            PatientQuery::parse("Mari  Kettring").unwrap(),
            PatientQuery::Name(vec!["kettring".into(), "mari".into()])
        );
        assert_eq!(
            PatientQuery::parse("Kettering, Marisol").unwrap(),
            PatientQuery::Name(vec!["kettering".into(), "marisol".into()])
        );
        // One-letter words (an initial) cannot be matched by trigrams; they are left out.
        assert_eq!(
            PatientQuery::parse("Ana B Li").unwrap(),
            PatientQuery::Name(vec!["ana".into(), "li".into()])
        );
        assert_eq!(
            PatientQuery::parse("a b c d e f Okafor Lindqvist Merriweather Oak").unwrap(),
            PatientQuery::Name(vec![
                "merriweather".into(),
                "lindqvist".into(),
                "okafor".into()
            ])
        );
    }

    #[test]
    fn too_little_or_too_much_is_refused() {
        for q in ["", "   ", "k", &"a".repeat(101)] {
            assert!(PatientQuery::parse(q).is_err(), "{q:?}");
        }
    }
}
