//! The diagnoses a session is billed under.
//!
//! The patient's primary diagnosis, unless the dictation adds one ("I'm adding PTSD, F43.10",
//! "adding a diagnosis of panic disorder") or replaces it ("diagnosis is generalized anxiety
//! disorder, F41.1, replacing the unspecified anxiety", "changed from adjustment disorder to
//! PTSD"). A diagnosis is only added where the dictation says so: assessments name conditions in
//! passing all the time ("generalized anxiety with sleep disruption"), and a code is a claim. A
//! code said aloud wins over words; words are coded from a small table of the conditions a
//! behavioral-health practice diagnoses most, at the unspecified level unless the words are more
//! specific. The commit validates every code against the ICD-10 reference table.

use std::ops::Range;

use super::Diagnosis;
use super::text::Doc;

/// Conditions in words and their ICD-10-CM codes; longer, more specific phrases first.
const CONDITIONS: &[(&str, &str)] = &[
    ("major depressive disorder, single episode, mild", "F32.0"),
    (
        "major depressive disorder, single episode, moderate",
        "F32.1",
    ),
    ("major depressive disorder, single episode, severe", "F32.2"),
    ("major depressive disorder, recurrent, mild", "F33.0"),
    ("major depressive disorder, recurrent, moderate", "F33.1"),
    ("major depressive disorder, recurrent, severe", "F33.2"),
    ("recurrent major depression", "F33.9"),
    ("major depressive disorder, recurrent", "F33.9"),
    ("major depressive disorder", "F32.9"),
    ("major depression", "F32.9"),
    ("persistent depressive disorder", "F34.1"),
    ("dysthymia", "F34.1"),
    ("generalized anxiety disorder", "F41.1"),
    ("gad", "F41.1"),
    ("panic disorder", "F41.0"),
    ("social anxiety disorder", "F40.10"),
    ("social anxiety", "F40.10"),
    ("agoraphobia", "F40.00"),
    ("specific phobia", "F40.298"),
    ("separation anxiety disorder", "F93.0"),
    ("separation anxiety", "F93.0"),
    ("unspecified anxiety", "F41.9"),
    ("obsessive-compulsive disorder", "F42.2"),
    ("obsessive compulsive disorder", "F42.2"),
    ("ocd", "F42.2"),
    ("posttraumatic stress disorder", "F43.10"),
    ("post-traumatic stress disorder", "F43.10"),
    ("post traumatic stress disorder", "F43.10"),
    ("chronic ptsd", "F43.12"),
    ("ptsd", "F43.10"),
    ("acute stress disorder", "F43.0"),
    ("acute stress reaction", "F43.0"),
    (
        "adjustment disorder with mixed anxiety and depressed mood",
        "F43.23",
    ),
    ("adjustment disorder with depressed mood", "F43.21"),
    ("adjustment disorder with anxiety", "F43.22"),
    ("adjustment disorder", "F43.20"),
    ("bipolar i disorder", "F31.9"),
    ("bipolar ii disorder", "F31.81"),
    ("bipolar ii", "F31.81"),
    ("bipolar disorder", "F31.9"),
    ("adhd, combined", "F90.2"),
    ("adhd, inattentive", "F90.0"),
    ("adhd", "F90.9"),
    ("alcohol use disorder, mild", "F10.10"),
    ("alcohol use disorder, moderate", "F10.20"),
    ("alcohol use disorder, severe", "F10.20"),
    ("alcohol use disorder", "F10.10"),
    ("cannabis use disorder, mild", "F12.10"),
    ("cannabis use disorder", "F12.10"),
    ("opioid use disorder", "F11.10"),
    ("insomnia disorder", "F51.01"),
    ("insomnia", "F51.01"),
    ("binge eating disorder", "F50.819"),
    ("bulimia nervosa", "F50.20"),
    ("anorexia nervosa", "F50.00"),
    ("borderline personality disorder", "F60.3"),
    ("trichotillomania", "F63.3"),
    ("oppositional defiant disorder", "F91.3"),
];

/// Words that bring a new diagnosis: the text after them is read for codes and conditions.
const ADDING: &[&str] = &[
    "adding",
    "add a diagnosis",
    "added a diagnosis",
    "new diagnosis",
    "diagnosis is",
    "diagnosis of",
    "diagnosed with",
    "meets criteria for",
    "meets full criteria for",
    "now meets criteria",
    "changed from",
    "changing the diagnosis",
    "updated to",
    "diagnosis changed",
    "diagnosis updated",
];
/// Words that make the new diagnosis replace the primary one.
const REPLACING: &[&str] = &[
    "replacing",
    "replaces",
    "replace",
    "instead of",
    "rather than",
    "changed from",
    "no longer meets",
    "diagnosis changed",
    "changing the diagnosis",
    "updated to",
    "diagnosis updated",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Coding {
    /// The codes to bill under, the primary first.
    pub codes: Vec<String>,
    pub evidence: Vec<Range<usize>>,
}

/// An ICD-10 code written in the text at token `i` ("F43.10", "F41.1"): (code, tokens).
fn code_at(doc: &Doc, i: usize) -> Option<(String, usize)> {
    let letter = doc.tokens.get(i)?;
    if !letter.is_word()
        || letter.norm.len() != 1
        || !letter.norm.chars().all(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    let digits = doc
        .tokens
        .get(i + 1)
        .filter(|t| t.joined && t.norm.len() == 2)?;
    digits.number()?;
    let mut code = format!("{}{}", letter.norm.to_ascii_uppercase(), digits.norm);
    let mut n = 2;
    if doc.norm(i + 2) == "."
        && doc.tokens.get(i + 2).is_some_and(|t| t.joined)
        && let Some(sub) = doc
            .tokens
            .get(i + 3)
            .filter(|t| t.joined && t.norm.len() <= 4)
        && sub.norm.chars().all(|c| c.is_ascii_alphanumeric())
    {
        code.push('.');
        code.push_str(&sub.norm.to_ascii_uppercase());
        n = 4;
    }
    Some((code, n))
}

fn codes_in(doc: &Doc, range: Range<usize>) -> Vec<(String, Range<usize>)> {
    range
        .filter_map(|i| code_at(doc, i).map(|(c, n)| (c, i..i + n)))
        .collect()
}

fn conditions_in(doc: &Doc, range: Range<usize>) -> Vec<(String, Range<usize>)> {
    let phrases: Vec<&str> = CONDITIONS.iter().map(|(p, _)| *p).collect();
    doc.find_all(range, &phrases)
        .into_iter()
        .filter_map(|r| {
            let said: Vec<&str> = (r.clone()).map(|i| doc.norm(i)).collect();
            CONDITIONS
                .iter()
                .find(|(p, _)| {
                    super::text::phrase_tokens(p).eq(said.iter().map(|s| (*s).to_owned()))
                })
                .map(|(_, code)| ((*code).to_owned(), r))
        })
        .collect()
}

/// The diagnoses to bill a session of a patient with `diagnoses` under.
pub(crate) fn code_session(doc: &Doc, diagnoses: &[Diagnosis]) -> Coding {
    let primary = diagnoses
        .iter()
        .find(|d| d.primary)
        .or(diagnoses.first())
        .map(|d| d.code.clone());
    let mut added: Vec<String> = Vec::new();
    let mut replace_primary = false;
    let mut evidence = Vec::new();
    for sentence in &doc.sentences {
        let Some(cue) = doc.find_any(sentence.clone(), ADDING) else {
            continue;
        };
        let mut from = cue.end;
        // "changed from adjustment disorder to PTSD": the new one follows "to".
        if let Some(was) = doc.find_any(cue.start..sentence.end, &["from"])
            && let Some(to) = doc.find_any(was.end..sentence.end, &["to"])
        {
            from = to.end;
        }
        let rest = from..sentence.end;
        let mut found = codes_in(doc, rest.clone());
        if found.is_empty() {
            found = conditions_in(doc, rest);
        }
        if found.is_empty() {
            continue;
        }
        evidence.push(sentence.clone());
        if doc.has_any(sentence.clone(), REPLACING) {
            replace_primary = true;
        }
        for (code, _) in found {
            if !added.contains(&code) {
                added.push(code);
            }
        }
    }
    let mut codes = Vec::new();
    if let Some(primary) = primary
        && (!replace_primary || added.contains(&primary))
    {
        codes.push(primary);
    }
    for code in added {
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Coding { codes, evidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dx(codes: &[&str]) -> Vec<Diagnosis> {
        codes
            .iter()
            .enumerate()
            .map(|(i, c)| Diagnosis {
                code: (*c).to_owned(),
                primary: i == 0,
            })
            .collect()
    }

    fn coded(text: &str, codes: &[&str]) -> Vec<String> {
        code_session(&Doc::new(text), &dx(codes)).codes
    }

    #[test]
    fn the_primary_diagnosis_by_default() {
        assert_eq!(
            coded(
                "Assessment: generalized anxiety with sleep disruption.",
                &["F41.1", "F51.01"]
            ),
            ["F41.1"]
        );
        assert_eq!(
            coded("Panic disorder, moderate, with avoidance.", &["F41.0"]),
            ["F41.0"]
        );
    }

    #[test]
    fn added_by_code_or_in_words() {
        assert_eq!(
            coded(
                "Her chart has recurrent major depression, F33.1, and GAD; after today I'm adding PTSD, F43.10.",
                &["F33.1", "F41.1"]
            ),
            ["F33.1", "F43.10"]
        );
        assert_eq!(
            coded("Adding a diagnosis of panic disorder.", &["F32.1"]),
            ["F32.1", "F41.0"]
        );
        assert_eq!(
            coded(
                "Based on today I'm adding alcohol use disorder, mild, F10.10.",
                &["F41.1"]
            ),
            ["F41.1", "F10.10"]
        );
    }

    #[test]
    fn replaced() {
        assert_eq!(
            coded(
                "Diagnosis is generalized anxiety disorder, F41.1, replacing the unspecified anxiety on the referral.",
                &["F41.9"]
            ),
            ["F41.1"]
        );
        assert_eq!(
            coded(
                "Diagnosis changed from adjustment disorder to PTSD.",
                &["F43.22"]
            ),
            ["F43.10"]
        );
    }

    /// Every code the words can give is a billable code of the reference table (migration 0016).
    #[test]
    fn coded_words_are_billable_reference_codes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../migrations/0016_icd10cm_behavioral_health.sql");
        let sql = std::fs::read_to_string(path).unwrap();
        for (words, code) in CONDITIONS {
            let row = format!("('{code}', ");
            let line = sql.lines().find(|l| l.trim_start().starts_with(&row));
            assert!(
                line.is_some_and(|l| l.contains(", true, ")),
                "{words}: {code} is not a billable code of the reference table"
            );
        }
    }

    #[test]
    fn codes_are_read_whole() {
        let doc = Doc::new("code F43.10 and f41.1 and F90");
        let found: Vec<String> = codes_in(&doc, 0..doc.tokens.len())
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(found, ["F43.10", "F41.1", "F90"]);
    }
}
