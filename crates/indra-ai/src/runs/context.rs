//! The run's context step: who dictates (and their note format), the organization's time zone,
//! the run's clock, and the patients the text can mean, with what the task needs of each
//! (active diagnoses, medications, upcoming appointments). Read as the requester, under RLS.
//!
//! Candidates are found by the words of the dictation: each word is looked up with
//! `app.search_patients` (typo-tolerant, indexed) and compared, accents and case folded, with
//! first, last and preferred names. Only those patients go to the model, not the practice's list.

use std::collections::BTreeSet;

use jiff::civil::DateTime;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::dictation::{
    CandidatePatient, Diagnosis, DictationContext, Medication, Provider, UpcomingAppointment,
};

/// The most candidates sent to a model.
const MAX_CANDIDATES: i64 = 25;

/// Words that are never a name; the rest of the dictation's words of three letters or more
/// are looked up.
const NOT_NAMES: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "was",
    "were",
    "her",
    "his",
    "him",
    "she",
    "they",
    "them",
    "their",
    "today",
    "session",
    "minutes",
    "minute",
    "min",
    "mins",
    "hour",
    "hours",
    "next",
    "week",
    "weeks",
    "weekly",
    "month",
    "monthly",
    "individual",
    "therapy",
    "group",
    "family",
    "intake",
    "crisis",
    "video",
    "phone",
    "telehealth",
    "patient",
    "client",
    "reports",
    "reported",
    "discussed",
    "plan",
    "sleep",
    "anxiety",
    "depression",
    "mood",
    "medication",
    "increase",
    "decrease",
    "start",
    "started",
    "stop",
    "continue",
    "follow",
    "see",
    "again",
    "same",
    "time",
    "at",
    "on",
    "in",
    "of",
    "to",
    "from",
    "this",
    "that",
    "had",
    "has",
    "have",
    "not",
    "but",
    "also",
    "will",
    "would",
    "about",
    "after",
    "before",
    "daily",
    "twice",
    "mg",
    "dose",
    "then",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "morning",
    "afternoon",
    "evening",
    "pm",
    "am",
    "are",
    "did",
    "does",
    "said",
    "says",
    "well",
    "good",
];

/// The dictation's words as lookups: lowercase, accents folded, 2+ letters, not common words.
pub(crate) fn name_words(input: &str) -> Vec<String> {
    let mut words = BTreeSet::new();
    for word in input.split(|c: char| !c.is_alphabetic() && c != '\'') {
        let word = word.trim_matches('\'');
        let word = word.strip_suffix("'s").unwrap_or(word);
        let folded: String = fold(word);
        // Two letters are enough for a surname ("Ng"); those go to the exact comparison only.
        if folded.chars().count() >= 2 && !NOT_NAMES.contains(&folded.as_str()) {
            words.insert(folded);
        }
    }
    words.into_iter().take(120).collect()
}

/// Lowercase without the accents Latin names carry ("Ríos" is "rios").
pub(crate) fn fold(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// The same folding in SQL, for the names stored.
const FOLD_SQL_FROM: &str = "áàâäãåéèêëíìîïóòôöõúùûüñç";
const FOLD_SQL_TO: &str = "aaaaaaeeeeiiiiooooouuuunc";

/// Candidates from the dictation's words: trigram search per word, and exact names.
const TEXT_CANDIDATES: &str = "
    select s.id from unnest($1::text[]) w, lateral app.search_patients(array[w], null, '', 10) s
     where length(w) >= 3
    union
    select p.id from patients p
     where lower(translate(p.first_name, FOLD_FROM, FOLD_TO)) = any ($1)
        or lower(translate(p.last_name, FOLD_FROM, FOLD_TO)) = any ($1)
        or lower(translate(p.preferred_name, FOLD_FROM, FOLD_TO)) = any ($1)
    union
    select $2::uuid where $2 is not null";

/// Candidates of a run started from a chart: that patient, and patients named in full.
const CHART_CANDIDATES: &str = "
    select $2::uuid as id
    union
    select p.id from patients p
     where lower(translate(p.last_name, FOLD_FROM, FOLD_TO)) = any ($1)
       and (lower(translate(p.first_name, FOLD_FROM, FOLD_TO)) = any ($1)
            or lower(translate(p.preferred_name, FOLD_FROM, FOLD_TO)) = any ($1))";

pub(crate) struct RunFacts {
    pub input_text: String,
    pub provider_id: Uuid,
    pub patient_id: Option<Uuid>,
}

/// Builds the context of a run (the caller is its requester).
pub(crate) async fn build(
    conn: &mut PgConnection,
    run: &RunFacts,
    run_id: Uuid,
) -> Result<DictationContext, sqlx::Error> {
    let row = sqlx::query(
        "select o.time_zone,
                to_char(r.run_clock at time zone o.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS') as local_now,
                p.first_name, p.last_name, p.credentials, p.preferred_note_format::text as note_format
           from ai_runs r
           join organizations o on o.id = r.org_id
           join providers p on p.org_id = r.org_id and p.id = r.provider_id
          where r.id = $1",
    )
    .bind(run_id)
    .fetch_one(&mut *conn)
    .await?;
    let time_zone: String = row.try_get("time_zone")?;
    let local_now: String = row.try_get("local_now")?;
    let now: DateTime = local_now
        .parse()
        .map_err(|e| sqlx::Error::Decode(format!("the run clock {local_now}: {e}").into()))?;
    let note_format: String = row.try_get("note_format")?;
    let provider = Provider {
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        credentials: row.try_get("credentials")?,
        note_format: note_format
            .parse()
            .map_err(|e| sqlx::Error::Decode(format!("note format: {e}").into()))?,
    };

    let words = name_words(&run.input_text);
    // A run started from a patient's chart is about that patient: other patients are candidates
    // only when the dictation names them in full (a partner in a couples session), so a loose
    // match of a common word never turns the chart's dictation into a "which patient?" question.
    let search = if run.patient_id.is_some() {
        CHART_CANDIDATES
    } else {
        TEXT_CANDIDATES
    }
    .replace("FOLD_FROM", &format!("'{FOLD_SQL_FROM}'"))
    .replace("FOLD_TO", &format!("'{FOLD_SQL_TO}'"));
    let ids: Vec<Uuid> = sqlx::query_scalar(&format!(
        "select c.id from ({search}) c join patients p on p.id = c.id
          where p.status <> 'discharged' or p.id = $2
          order by p.last_name, p.first_name, p.id
          limit $3"
    ))
    .bind(&words)
    .bind(run.patient_id)
    .bind(MAX_CANDIDATES)
    .fetch_all(&mut *conn)
    .await?;

    let mut patients = Vec::with_capacity(ids.len());
    for id in ids {
        patients.push(candidate(conn, id, run_id).await?);
    }
    Ok(DictationContext {
        provider,
        time_zone,
        now,
        patients,
        answers: Vec::new(),
        chart_patient: run.patient_id.map(|id| id.to_string()),
    })
}

/// One candidate with what the task needs of their chart.
pub(crate) async fn candidate(
    conn: &mut PgConnection,
    id: Uuid,
    run_id: Uuid,
) -> Result<CandidatePatient, sqlx::Error> {
    let row = sqlx::query(
        "select first_name, last_name, preferred_name, to_char(date_of_birth, 'YYYY-MM-DD') as dob
           from patients where id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let dob: Option<String> = row.try_get("dob")?;
    let diagnoses = sqlx::query(
        "select icd10_code, is_primary from patient_diagnoses
          where patient_id = $1 and status = 'active' order by is_primary desc, diagnosed_on, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Diagnosis {
            code: r.try_get("icd10_code")?,
            primary: r.try_get("is_primary")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let medications = sqlx::query(
        "select name, dose, frequency from medications
          where patient_id = $1 and status = 'active' order by name, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Medication {
            name: r.try_get("name")?,
            dose: r.try_get("dose")?,
            frequency: r.try_get("frequency")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let upcoming = sqlx::query(
        "select to_char(a.starts_at at time zone o.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS') as start,
                (extract(epoch from a.ends_at - a.starts_at) / 60)::integer as minutes
           from appointments a
           join organizations o on o.id = a.org_id
           join ai_runs r on r.org_id = a.org_id and r.id = $2
          where a.patient_id = $1 and a.status = 'scheduled' and a.starts_at >= r.run_clock
          order by a.starts_at limit 5",
    )
    .bind(id)
    .bind(run_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|r| {
        let start: String = r.try_get("start").ok()?;
        let minutes: i32 = r.try_get("minutes").ok()?;
        Some(UpcomingAppointment {
            start: start.parse().ok()?,
            duration_minutes: u32::try_from(minutes).ok()?,
        })
    })
    .collect();
    Ok(CandidatePatient {
        id: id.to_string(),
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        preferred_name: row.try_get("preferred_name")?,
        date_of_birth: dob.and_then(|d| d.parse().ok()),
        diagnoses,
        medications,
        upcoming_appointments: upcoming,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_looked_up_without_accents_or_common_words() {
        let words =
            name_words("Session with Ana Ríos today, 50 minutes; the Vega boy's mother came.");
        assert!(words.contains(&"rios".to_owned()));
        assert!(words.contains(&"ana".to_owned()));
        assert!(words.contains(&"vega".to_owned()));
        assert!(!words.contains(&"session".to_owned()));
        assert!(!words.contains(&"the".to_owned()));
    }
}
