//! Who the dictation is about: names in the text matched against the organization's patients.
//!
//! A patient is named by full name, by first name (or preferred name or a common nickname) alone,
//! or by surname alone ("Mr. Okafor", "the Vega boy"). Names may be misspelled by dictation
//! software: a name of five to seven letters may be one edit off, a longer one two (transposed
//! letters count once). Short names must match exactly; Ana is not Ann.
//!
//! The choice, for a session with one patient: a full name decides; otherwise the first names and
//! surnames mentioned must point to exactly one patient. Two patients behind one name, or none at
//! all, is a question for the clinician, never a guess.

use std::ops::Range;

use super::CandidatePatient;
use super::text::{Doc, allowed_typos, fold, misspelling_of};

/// Common English nicknames and the given names they stand for (both directions are used).
const NICKNAMES: &[(&str, &[&str])] = &[
    ("abby", &["abigail"]),
    ("alex", &["alexander", "alexandra", "alexis"]),
    ("andy", &["andrew"]),
    ("bart", &["bartholomew", "barton"]),
    ("bea", &["beatrice"]),
    ("ben", &["benjamin"]),
    ("beth", &["elizabeth", "bethany"]),
    ("bill", &["william"]),
    ("billy", &["william"]),
    ("bob", &["robert"]),
    ("bobby", &["robert"]),
    ("cathy", &["catherine", "katherine", "kathryn"]),
    ("charlie", &["charles", "charlotte"]),
    (
        "chris",
        &["christopher", "christina", "christine", "kristopher"],
    ),
    ("chuck", &["charles"]),
    ("dan", &["daniel"]),
    ("danny", &["daniel"]),
    ("dave", &["david"]),
    ("deb", &["deborah", "debra"]),
    ("debbie", &["deborah", "debra"]),
    ("ed", &["edward", "edwin"]),
    ("eddie", &["edward"]),
    ("fred", &["frederick"]),
    ("gabe", &["gabriel"]),
    ("greg", &["gregory"]),
    ("jack", &["john", "jackson"]),
    ("jake", &["jacob"]),
    ("jen", &["jennifer"]),
    ("jenny", &["jennifer"]),
    ("jim", &["james"]),
    ("jimmy", &["james"]),
    ("joe", &["joseph"]),
    ("johnny", &["john", "jonathan"]),
    ("jon", &["jonathan"]),
    ("kate", &["katherine", "kathryn", "catherine"]),
    ("katie", &["katherine", "kathryn", "caitlin"]),
    ("kathy", &["katherine", "kathryn"]),
    ("ken", &["kenneth"]),
    ("larry", &["lawrence"]),
    ("liz", &["elizabeth"]),
    ("lizzie", &["elizabeth"]),
    ("maggie", &["margaret"]),
    ("matt", &["matthew"]),
    ("meg", &["margaret", "megan"]),
    ("mike", &["michael"]),
    ("mick", &["michael"]),
    ("nate", &["nathan", "nathaniel"]),
    ("nick", &["nicholas"]),
    ("pat", &["patrick", "patricia"]),
    ("peggy", &["margaret"]),
    ("rich", &["richard"]),
    ("rick", &["richard"]),
    ("rob", &["robert"]),
    ("ron", &["ronald"]),
    ("sam", &["samuel", "samantha"]),
    ("sandy", &["sandra"]),
    ("steve", &["steven", "stephen"]),
    ("sue", &["susan"]),
    ("ted", &["edward", "theodore"]),
    ("theo", &["theodore"]),
    ("tom", &["thomas", "tomas"]),
    ("tommy", &["thomas"]),
    ("tony", &["anthony"]),
    ("vicky", &["victoria"]),
    ("will", &["william"]),
    ("zach", &["zachary"]),
];

/// Words that look like names to a fuzzy matcher but are ordinary dictation words.
const NOT_NAMES: &[&str] = &[
    "about",
    "after",
    "again",
    "anxious",
    "before",
    "being",
    "calmer",
    "group",
    "hours",
    "later",
    "minutes",
    "mother",
    "father",
    "never",
    "other",
    "session",
    "sister",
    "still",
    "there",
    "these",
    "today",
    "tomorrow",
    "under",
    "where",
    "which",
    "while",
    "worked",
    "would",
    "plan",
    "behavior",
    "intervention",
    "response",
    "assessment",
    "subjective",
    "objective",
    "data",
];

/// Words after a surname that make it a family reference ("the Vega boy").
const FAMILY_WORDS: &[&str] = &[
    "boy", "girl", "kid", "child", "son", "daughter", "teen", "teenager", "family", "twins",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MentionKind {
    /// Surname alone ("Mr. Okafor", "the Okafor boy").
    Surname,
    /// First name, preferred name or nickname alone.
    Given,
    /// Given name followed by surname.
    Full,
}

#[derive(Debug, Clone)]
pub(crate) struct Mention {
    pub patient: usize,
    pub kind: MentionKind,
    pub tokens: Range<usize>,
}

struct Names {
    given: Vec<String>,
    /// Given names that may be misspelled (the record's own, not nicknames).
    given_fuzzy: Vec<String>,
    surname: Vec<Vec<String>>,
}

fn names_of(patient: &CandidatePatient) -> Names {
    let mut given: Vec<String> = Vec::new();
    let mut given_fuzzy = Vec::new();
    for name in [Some(&patient.first_name), patient.preferred_name.as_ref()]
        .into_iter()
        .flatten()
    {
        let name = fold(name.trim());
        if name.is_empty() {
            continue;
        }
        for (nick, full) in NICKNAMES {
            if *nick == name {
                given.extend(full.iter().map(|f| (*f).to_owned()));
            }
            if full.contains(&name.as_str()) {
                given.push((*nick).to_owned());
            }
        }
        given_fuzzy.push(name.clone());
        given.push(name);
    }
    let last = fold(patient.last_name.trim());
    let mut surname: Vec<Vec<String>> = Vec::new();
    let parts: Vec<String> = last
        .split([' ', '-'])
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if parts.len() > 1 {
        // "Oyelaran-Brooks" as written, and each part alone.
        surname.push(super::text::phrase_tokens(&last).collect());
        surname.extend(parts.iter().map(|p| vec![p.clone()]));
    } else if !last.is_empty() {
        surname.push(vec![last]);
    }
    Names {
        given,
        given_fuzzy,
        surname,
    }
}

fn word_matches(word: &str, exact: &[String], fuzzy: &[String]) -> bool {
    if exact.iter().any(|n| n == word) {
        return true;
    }
    if NOT_NAMES.contains(&word) {
        return false;
    }
    fuzzy.iter().any(|n| {
        let allowed = allowed_typos(n.chars().count().min(word.chars().count()));
        misspelling_of(word, n, allowed)
    })
}

/// The tokens a surname covers at `i`, if one of the patient's surnames is there.
fn surname_at(doc: &Doc, i: usize, names: &Names) -> Option<usize> {
    for parts in &names.surname {
        if parts.len() == 1 {
            let token = doc.tokens.get(i)?;
            if token.is_word() && word_matches(&token.norm, parts, parts) {
                return Some(1);
            }
        } else if let Some(n) = doc.phrase_len_at(i, &parts.join(" ")) {
            return Some(n);
        }
    }
    None
}

/// Every place the text names one of `patients`.
pub(crate) fn find_mentions(doc: &Doc, patients: &[CandidatePatient]) -> Vec<Mention> {
    let names: Vec<Names> = patients.iter().map(names_of).collect();
    let mut mentions = Vec::new();
    let usable = |i: usize| {
        doc.tokens
            .get(i)
            .is_some_and(|t| t.is_word() && (t.capitalized || doc.all_lowercase))
    };
    for (p, names) in names.iter().enumerate() {
        let mut i = 0;
        while i < doc.tokens.len() {
            let token = &doc.tokens[i];
            if !token.is_word() {
                i += 1;
                continue;
            }
            let given = word_matches(&token.norm, &names.given, &names.given_fuzzy);
            if given {
                // A middle initial may sit between ("Ava J. Lindqvist").
                let mut next = i + 1;
                if doc
                    .tokens
                    .get(next)
                    .is_some_and(|t| t.norm.len() == 1 && t.is_word())
                    && doc.norm(next + 1) == "."
                {
                    next += 2;
                }
                if let Some(n) = surname_at(doc, next, names) {
                    mentions.push(Mention {
                        patient: p,
                        kind: MentionKind::Full,
                        tokens: i..next + n,
                    });
                    i = next + n;
                    continue;
                }
                if usable(i) {
                    mentions.push(Mention {
                        patient: p,
                        kind: MentionKind::Given,
                        tokens: i..i + 1,
                    });
                }
                i += 1;
                continue;
            }
            if usable(i)
                && let Some(n) = surname_at(doc, i, names)
            {
                mentions.push(Mention {
                    patient: p,
                    kind: MentionKind::Surname,
                    tokens: i..i + n,
                });
                i += n;
                continue;
            }
            i += 1;
        }
    }
    mentions.sort_by_key(|m| (m.tokens.start, m.patient));
    mentions
}

/// Whether the surname mention is a family reference ("the Vega boy"): used only to explain the
/// evidence; a surname alone identifies the patient the same way.
pub(crate) fn is_family_reference(doc: &Doc, mention: &Mention) -> bool {
    FAMILY_WORDS.contains(&doc.norm(mention.tokens.end))
}

/// The outcome of resolving one session's patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    One(usize),
    /// Several patients fit: ask which (the candidates, in the order of the organization's list).
    Ambiguous(Vec<usize>),
    /// Nobody fits: ask, offering every candidate.
    Unknown,
}

/// The patient of a family or couples session: when it names two of the practice's patients
/// ("couples session with Marisol and Mario Fuentes"), whose encounter it is must be asked.
pub(crate) fn resolve_family(mentions: &[Mention], patient_count: usize) -> Resolution {
    let named: Vec<usize> = distinct(mentions.iter().filter(|m| m.kind != MentionKind::Surname));
    if named.len() > 1 {
        let mut named = named;
        named.sort_unstable();
        return Resolution::Ambiguous(named);
    }
    resolve_single(mentions, patient_count)
}

/// The patient of a one-patient session.
pub(crate) fn resolve_single(mentions: &[Mention], patient_count: usize) -> Resolution {
    let full: Vec<usize> = distinct(mentions.iter().filter(|m| m.kind == MentionKind::Full));
    if let Some(first) = full.first() {
        // Couples and family sessions may name a second patient; the first named is the subject.
        return Resolution::One(*first);
    }
    let partial: Vec<usize> = distinct(mentions.iter());
    match partial.as_slice() {
        [] => Resolution::Unknown,
        [only] => Resolution::One(*only),
        _ => {
            let mut all = partial;
            all.sort_unstable();
            all.retain(|p| *p < patient_count);
            Resolution::Ambiguous(all)
        }
    }
}

/// The attending patients of a group session: every patient named, except those said to be
/// absent. A first name shared by two patients is ambiguous.
pub(crate) fn resolve_group(doc: &Doc, mentions: &[Mention]) -> Result<Vec<usize>, Resolution> {
    let mut attending: Vec<usize> = Vec::new();
    let mut ambiguous: Vec<usize> = Vec::new();
    let mut by_start: Vec<(usize, Vec<&Mention>)> = Vec::new();
    for m in mentions {
        match by_start.iter_mut().find(|(s, _)| *s == m.tokens.start) {
            Some((_, list)) => list.push(m),
            None => by_start.push((m.tokens.start, vec![m])),
        }
    }
    for (_, at) in &by_start {
        let best = at.iter().map(|m| m.kind).max();
        let top: Vec<&&Mention> = at.iter().filter(|m| Some(m.kind) == best).collect();
        if top.len() > 1 {
            ambiguous.extend(top.iter().map(|m| m.patient));
            continue;
        }
        let Some(m) = top.first() else { continue };
        if is_absent(doc, m) {
            attending.retain(|p| *p != m.patient);
            continue;
        }
        if !attending.contains(&m.patient) {
            attending.push(m.patient);
        }
    }
    // An absent patient named again later ("Andrea was absent ... Andrea") stays absent.
    attending.retain(|p| {
        !mentions
            .iter()
            .any(|m| m.patient == *p && is_absent(doc, m))
    });
    ambiguous.retain(|p| !attending.contains(p));
    if !ambiguous.is_empty() {
        ambiguous.sort_unstable();
        ambiguous.dedup();
        return Err(Resolution::Ambiguous(ambiguous));
    }
    if attending.is_empty() {
        return Err(Resolution::Unknown);
    }
    Ok(attending)
}

const ABSENT: &[&str] = &[
    "absent",
    "did not attend",
    "didn't attend",
    "did not come",
    "didn't come",
    "no-show",
    "no show",
    "missed group",
    "missed the group",
    "missed today",
    "cancelled",
    "canceled",
    "not present",
];

/// The patient is said to be absent in the clause naming them.
fn is_absent(doc: &Doc, mention: &Mention) -> bool {
    let sentence = doc.sentence_of(mention.tokens.start);
    // The clause: from the previous ';' or ',' to the next one.
    let mut start = mention.tokens.start;
    while start > sentence.start && !matches!(doc.norm(start - 1), ";" | ",") {
        start -= 1;
    }
    let mut end = mention.tokens.end;
    while end < sentence.end && !matches!(doc.norm(end), ";" | ",") {
        end += 1;
    }
    // Other patients named in the same clause share it only if joined by "and".
    doc.has_any(mention.tokens.end..end, ABSENT)
}

fn distinct<'a>(mentions: impl Iterator<Item = &'a Mention>) -> Vec<usize> {
    let mut out = Vec::new();
    for m in mentions {
        if !out.contains(&m.patient) {
            out.push(m.patient);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(first: &str, last: &str, preferred: Option<&str>) -> CandidatePatient {
        CandidatePatient {
            id: format!("{first}-{last}"),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            preferred_name: preferred.map(str::to_owned),
            ..CandidatePatient::default()
        }
    }

    fn resolve(text: &str, patients: &[CandidatePatient]) -> Resolution {
        let doc = Doc::new(text);
        resolve_single(&find_mentions(&doc, patients), patients.len())
    }

    #[test]
    fn full_names_nicknames_and_misspellings() {
        let ps = [
            patient("Robert", "Kessler", None),
            patient("Kathryn", "Szymanski", None),
            patient("José", "Ramírez", None),
            patient("Beatrice", "Hollis", Some("Bea")),
        ];
        assert_eq!(resolve("Saw Bob Kessler today", &ps), Resolution::One(0));
        assert_eq!(
            resolve("Session with Kathryn Symanski", &ps),
            Resolution::One(1)
        );
        assert_eq!(
            resolve("med check with jose ramirez", &ps),
            Resolution::One(2)
        );
        assert_eq!(resolve("Phone call with Bea.", &ps), Resolution::One(3));
        assert_eq!(resolve("Mr. Kesler came in", &ps), Resolution::One(0));
    }

    #[test]
    fn short_names_must_match_exactly() {
        let ps = [patient("Marcus", "Bell", None)];
        assert_eq!(resolve("Well, he slept well.", &ps), Resolution::Unknown);
        assert_eq!(resolve("Saw Mr. Bill today", &ps), Resolution::Unknown);
    }

    #[test]
    fn a_shared_first_name_is_ambiguous_unless_the_full_name_is_given() {
        let ps = [
            patient("Emily", "Sanders", None),
            patient("Emily", "Hart", None),
        ];
        assert_eq!(
            resolve("Saw Emily today", &ps),
            Resolution::Ambiguous(vec![0, 1])
        );
        assert_eq!(resolve("Emily Hart, 50 minutes", &ps), Resolution::One(1));
        let ps = [
            patient("Christopher", "Dale", None),
            patient("Christina", "Boyle", None),
        ];
        assert_eq!(
            resolve("Chris, 50 minutes", &ps),
            Resolution::Ambiguous(vec![0, 1])
        );
    }

    #[test]
    fn surnames_alone_and_family_references() {
        let ps = [
            patient("Caleb", "Abernathy", None),
            patient("Maren", "Ostrowski", None),
        ];
        let doc = Doc::new("Session with the Abernathy boy");
        let mentions = find_mentions(&doc, &ps);
        assert_eq!(resolve_single(&mentions, 2), Resolution::One(0));
        assert!(is_family_reference(&doc, &mentions[0]));
        let siblings = [
            patient("Caleb", "Abernathy", None),
            patient("Josie", "Abernathy", None),
        ];
        assert_eq!(
            resolve("the Abernathy child", &siblings),
            Resolution::Ambiguous(vec![0, 1])
        );
    }

    #[test]
    fn lowercase_names_count_only_in_lowercase_dictations() {
        let ps = [patient("Grant", "Holloway", None)];
        assert_eq!(resolve("The grant was approved.", &ps), Resolution::Unknown);
        assert_eq!(resolve("saw grant today", &ps), Resolution::One(0));
    }

    #[test]
    fn group_attendance_leaves_out_absent_members() {
        let ps = [
            patient("Jasmine", "Ford", None),
            patient("Paul", "Novak", None),
            patient("Andrea", "Kim", None),
        ];
        let doc = Doc::new("Jasmine Ford and Paul Novak attended; Andrea Kim was absent.");
        let mentions = find_mentions(&doc, &ps);
        assert_eq!(resolve_group(&doc, &mentions), Ok(vec![0, 1]));
        let doc = Doc::new("Nobody from the list came.");
        assert_eq!(
            resolve_group(&doc, &find_mentions(&doc, &ps)),
            Err(Resolution::Unknown)
        );
    }
}
