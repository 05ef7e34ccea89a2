//! Medication orders in a dictation: "start escitalopram 10 mg daily", "increase sertraline from
//! 50 mg to 100 mg", "lowering quetiapine to 25 mg at bedtime", "discontinue buspirone", "switch
//! from fluoxetine to sertraline 25 mg".
//!
//! An order is a verb in the present or imperative before the medication, in the same clause:
//! reports of the past ("since the buspirone went up", "her PCP started her on ...") and
//! continuations ("continue lamotrigine 200 mg", "trazodone stays the same") change nothing. A
//! dose change that names no medication ("go up to 100 mg on her medication") belongs to the
//! patient's only medication, or is a question when there are several.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::Medication;
use super::text::{Doc, edit_distance, fold, misspelling_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MedicationChange {
    Started,
    Changed,
    Discontinued,
}

impl MedicationChange {
    pub fn code(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Changed => "changed",
            Self::Discontinued => "discontinued",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MedicationOrder {
    pub change: MedicationChange,
    /// `None`: a dose change that names no medication.
    pub name: Option<String>,
    pub dose: Option<String>,
    pub previous_dose: Option<String>,
    pub frequency: Option<String>,
    pub tokens: Range<usize>,
}

/// Psychiatric medications (generic and common brand names) recognized even when the patient is
/// not yet on them.
const KNOWN: &[&str] = &[
    "sertraline",
    "fluoxetine",
    "paroxetine",
    "citalopram",
    "escitalopram",
    "fluvoxamine",
    "venlafaxine",
    "desvenlafaxine",
    "duloxetine",
    "levomilnacipran",
    "bupropion",
    "mirtazapine",
    "trazodone",
    "vilazodone",
    "vortioxetine",
    "nefazodone",
    "amitriptyline",
    "nortriptyline",
    "imipramine",
    "clomipramine",
    "doxepin",
    "phenelzine",
    "tranylcypromine",
    "selegiline",
    "lithium",
    "lamotrigine",
    "valproate",
    "divalproex",
    "carbamazepine",
    "oxcarbazepine",
    "topiramate",
    "gabapentin",
    "pregabalin",
    "quetiapine",
    "olanzapine",
    "risperidone",
    "aripiprazole",
    "brexpiprazole",
    "cariprazine",
    "lurasidone",
    "ziprasidone",
    "paliperidone",
    "haloperidol",
    "clozapine",
    "asenapine",
    "lumateperone",
    "buspirone",
    "hydroxyzine",
    "propranolol",
    "prazosin",
    "clonidine",
    "guanfacine",
    "atomoxetine",
    "viloxazine",
    "methylphenidate",
    "dexmethylphenidate",
    "amphetamine",
    "dextroamphetamine",
    "lisdexamfetamine",
    "modafinil",
    "alprazolam",
    "lorazepam",
    "clonazepam",
    "diazepam",
    "temazepam",
    "zolpidem",
    "eszopiclone",
    "ramelteon",
    "melatonin",
    "naltrexone",
    "acamprosate",
    "disulfiram",
    "buprenorphine",
    "methadone",
    "varenicline",
    "esketamine",
    "zuranolone",
    "adderall",
    "ritalin",
    "concerta",
    "vyvanse",
    "zoloft",
    "prozac",
    "lexapro",
    "wellbutrin",
    "seroquel",
    "abilify",
    "lamictal",
    "xanax",
    "klonopin",
    "ativan",
    "ambien",
    "trintellix",
    "cymbalta",
    "effexor",
    "celexa",
    "paxil",
    "remeron",
    "buspar",
    "vistaril",
    "strattera",
    "intuniv",
    "latuda",
    "rexulti",
    "vraylar",
    "zyprexa",
    "risperdal",
    "depakote",
    "tegretol",
    "trileptal",
    "topamax",
    "neurontin",
    "lyrica",
    "suboxone",
];

/// Release forms written after the name ("methylphenidate ER").
const FORMS: &[&str] = &["er", "xr", "xl", "sr", "cr", "la", "odt", "ir", "dr", "cd"];

const START: &[&str] = &[
    "start",
    "starting",
    "begin",
    "beginning",
    "initiate",
    "initiating",
    "add",
    "adding",
    "trial of",
    "prescribe",
    "prescribing",
    "restart",
    "restarting",
    "resume",
    "resuming",
];
const CHANGE: &[&str] = &[
    "increase",
    "increasing",
    "raise",
    "raising",
    "go up",
    "going up",
    "bump",
    "bumping",
    "titrate",
    "titrating",
    "decrease",
    "decreasing",
    "reduce",
    "reducing",
    "lower",
    "lowering",
    "cut back",
    "adjust",
    "adjusting",
    "change",
    "changing",
    "up the",
];
const STOP: &[&str] = &[
    "stop",
    "stopping",
    "discontinue",
    "discontinuing",
    "d/c",
    "taper off",
    "tapering off",
    "wean off",
    "weaning off",
    "come off",
    "coming off",
    "cease",
];
const KEEP: &[&str] = &[
    "continue",
    "continuing",
    "stay",
    "stays",
    "staying",
    "remain",
    "remains",
    "keep",
    "keeping",
    "maintain",
    "maintaining",
    "no change",
    "tolerating",
    "tolerates",
];
/// After the name: "sertraline increased to 100 mg", "hydroxyzine discontinued".
const CHANGED_AFTER: &[&str] = &[
    "increased to",
    "decreased to",
    "reduced to",
    "lowered to",
    "raised to",
    "titrated to",
    "changed to",
    "to be increased to",
    "to be decreased to",
];
const STOPPED_AFTER: &[&str] = &["discontinued", "stopped", "d/c'd", "to be discontinued"];
const SWITCH: &[&str] = &[
    "switch",
    "switching",
    "cross-taper",
    "cross taper",
    "transition",
];

const UNITS: &[&str] = &["mg", "mcg", "g", "ml", "units", "milligrams", "micrograms"];
const FREQUENCIES: &[&str] = &[
    "once daily",
    "twice daily",
    "three times daily",
    "twice a day",
    "three times a day",
    "once a day",
    "daily",
    "nightly",
    "weekly",
    "at bedtime",
    "at night",
    "in the morning",
    "every morning",
    "every evening",
    "every night",
    "in the evening",
    "as needed",
    "prn",
    "bid",
    "tid",
    "qid",
    "qhs",
    "qam",
    "qd",
    "q day",
    "before bed",
];

/// A medication named at token `i`: (the record's or canonical name, tokens covered).
fn medication_at(doc: &Doc, i: usize, current: &[Medication]) -> Option<(String, usize)> {
    let token = doc.tokens.get(i)?;
    if !token.is_word() || token.norm.len() < 4 {
        return None;
    }
    let word = token.norm.as_str();
    let close = |name: &str| {
        let len = name.chars().count();
        let allowed = if len >= 10 {
            2
        } else if len >= 7 {
            1
        } else {
            0
        };
        word == name || misspelling_of(word, name, allowed)
    };
    let base = current
        .iter()
        .find(|m| fold(&m.name).split_whitespace().next().is_some_and(close))
        .map(|m| {
            // The record's name, without a release form the text does not repeat.
            m.name
                .split_whitespace()
                .next()
                .unwrap_or(m.name.as_str())
                .to_owned()
        })
        .or_else(|| {
            // The closest known name ("escitalopram" is not "citalopram").
            KNOWN
                .iter()
                .filter(|k| close(k))
                .min_by_key(|k| edit_distance(word, k))
                .map(|k| (*k).to_owned())
        })?;
    let mut name = base;
    let mut len = 1;
    if let Some(form) = doc
        .tokens
        .get(i + 1)
        .filter(|t| FORMS.contains(&t.norm.as_str()))
    {
        name.push(' ');
        name.push_str(&form.norm.to_ascii_uppercase());
        len = 2;
    }
    Some((name, len))
}

/// Clauses for orders: split at punctuation and at conjunctions that start a new order. A clause
/// after "since", "because", "after", "when" or "until" tells history ("nausea since starting
/// escitalopram") and orders nothing, so it is left out.
fn segments(doc: &Doc) -> Vec<Range<usize>> {
    const SUBORDINATE: &[&str] = &["since", "because", "after", "when", "until"];
    let mut out = Vec::new();
    for sentence in &doc.sentences {
        let mut start = sentence.start;
        let mut history = false;
        for i in sentence.clone() {
            let word = doc.norm(i);
            let clock = word == ":"
                && doc.tokens.get(i).is_some_and(|t| t.joined)
                && doc.tokens.get(i + 1).is_some_and(|t| t.joined);
            let boundary = !clock
                && (matches!(
                    word,
                    "," | ";" | ":" | "and" | "but" | "then" | "so" | "while"
                ) || SUBORDINATE.contains(&word));
            if boundary {
                if i > start && !history {
                    out.push(start..i);
                }
                start = i + 1;
                history = SUBORDINATE.contains(&word);
            }
        }
        if sentence.end > start && !history {
            out.push(start..sentence.end);
        }
    }
    out
}

/// A dose at `i` ("100 mg", "7.5 mg", "25mg"): (text, tokens).
fn dose_at(doc: &Doc, i: usize) -> Option<(String, usize)> {
    let whole = doc.tokens.get(i)?.number()?;
    let mut j = i + 1;
    let mut amount = whole.to_string();
    if doc.norm(j) == "."
        && doc.tokens.get(j).is_some_and(|t| t.joined)
        && let Some(frac) = doc
            .tokens
            .get(j + 1)
            .filter(|t| t.joined)
            .and_then(|t| t.number().map(|_| t.norm.clone()))
    {
        amount = format!("{whole}.{frac}");
        j += 2;
    }
    let unit = doc.norm(j);
    if !UNITS.contains(&unit) {
        return None;
    }
    let unit = match unit {
        "milligrams" => "mg",
        "micrograms" => "mcg",
        other => other,
    };
    Some((format!("{amount} {unit}"), j + 1 - i))
}

/// Every dose in `range`, in order, with its position.
fn doses_in(doc: &Doc, range: Range<usize>) -> Vec<(String, Range<usize>)> {
    let mut out = Vec::new();
    let mut i = range.start;
    while i < range.end {
        if let Some((dose, n)) = dose_at(doc, i) {
            out.push((dose, i..i + n));
            i += n;
        } else {
            i += 1;
        }
    }
    out
}

/// The new dose and the one it replaces ("from 50 mg to 100 mg": 100 mg, from 50 mg).
fn new_and_previous_dose(doc: &Doc, range: Range<usize>) -> (Option<String>, Option<String>) {
    let doses = doses_in(doc, range);
    match doses.as_slice() {
        [] => (None, None),
        [(only, _)] => (Some(only.clone()), None),
        [(first, _), rest @ ..] => {
            let target = rest
                .iter()
                .find(|(_, at)| doc.norm(at.start.wrapping_sub(1)) == "to")
                .or(rest.first());
            (target.map(|(d, _)| d.clone()), Some(first.clone()))
        }
    }
}

fn frequency_after(doc: &Doc, from: usize, end: usize) -> Option<String> {
    let mut parts = Vec::new();
    let mut i = from;
    while i < end {
        let hit = FREQUENCIES
            .iter()
            .filter_map(|f| doc.phrase_len_at(i, f).map(|n| (f, n)))
            .filter(|(_, n)| i + n <= end)
            .max_by_key(|(_, n)| *n);
        match hit {
            Some((_, n)) => {
                parts.push(doc.slice(i..i + n).to_owned());
                i += n;
            }
            None if parts.is_empty() && i < from + 3 => i += 1,
            None => break,
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The nearest order verb before `at` within `segment`: (change, or `None` for "continue").
fn verb_before(doc: &Doc, segment: Range<usize>, at: usize) -> Option<Option<MedicationChange>> {
    let mut best: Option<(usize, Option<MedicationChange>)> = None;
    for (phrases, change) in [
        (START, Some(MedicationChange::Started)),
        (CHANGE, Some(MedicationChange::Changed)),
        (STOP, Some(MedicationChange::Discontinued)),
        (KEEP, None),
    ] {
        for hit in doc.find_all(segment.start..at, phrases) {
            if best.is_none_or(|(pos, _)| hit.start > pos) {
                best = Some((hit.start, change));
            }
        }
    }
    best.map(|(_, change)| change)
}

/// Reads the medication orders of a dictation about one patient on `current`.
pub(crate) fn read_orders(doc: &Doc, current: &[Medication]) -> Vec<MedicationOrder> {
    let mut orders: Vec<MedicationOrder> = Vec::new();
    for segment in segments(doc) {
        let mentions: Vec<(String, Range<usize>)> = segment
            .clone()
            .filter_map(|i| medication_at(doc, i, current).map(|(n, len)| (n, i..i + len)))
            .collect();
        // "switch from fluoxetine to sertraline 25 mg"
        if mentions.len() >= 2
            && let Some(switch) = doc.find_any(segment.clone(), SWITCH)
            && switch.start < mentions[0].1.start
        {
            let (from, to) = (&mentions[0], &mentions[1]);
            let (dose, _) = new_and_previous_dose(doc, to.1.end..segment.end);
            let dose_end = doses_in(doc, to.1.end..segment.end)
                .first()
                .map_or(to.1.end, |(_, r)| r.end);
            orders.push(MedicationOrder {
                change: MedicationChange::Discontinued,
                name: Some(from.0.clone()),
                dose: None,
                previous_dose: None,
                frequency: None,
                tokens: segment.clone(),
            });
            orders.push(MedicationOrder {
                change: MedicationChange::Started,
                name: Some(to.0.clone()),
                dose,
                previous_dose: None,
                frequency: frequency_after(doc, dose_end, segment.end),
                tokens: segment.clone(),
            });
            continue;
        }
        if mentions.is_empty() {
            // A dose change without a name: "go up to 100 mg on her medication".
            if let Some(Some(MedicationChange::Changed)) =
                verb_before(doc, segment.clone(), segment.end)
                && let (Some(dose), previous) = new_and_previous_dose(doc, segment.clone())
            {
                let dose_end = doses_in(doc, segment.clone())
                    .last()
                    .map_or(segment.end, |(_, r)| r.end);
                orders.push(MedicationOrder {
                    change: MedicationChange::Changed,
                    name: None,
                    dose: Some(dose),
                    previous_dose: previous,
                    frequency: frequency_after(doc, dose_end, segment.end),
                    tokens: segment.clone(),
                });
            }
            continue;
        }
        for (name, at) in &mentions {
            let after = at.end..segment.end;
            let change = match verb_before(doc, segment.clone(), at.start) {
                Some(change) => change,
                None if CHANGED_AFTER.iter().any(|p| doc.matches_at(at.end, p)) => {
                    Some(MedicationChange::Changed)
                }
                None if STOPPED_AFTER.iter().any(|p| doc.matches_at(at.end, p)) => {
                    Some(MedicationChange::Discontinued)
                }
                None => None,
            };
            let Some(change) = change else { continue };
            let (dose, previous_dose) = match change {
                MedicationChange::Discontinued => (None, None),
                _ => new_and_previous_dose(doc, after.clone()),
            };
            let dose_end = doses_in(doc, after.clone())
                .last()
                .map_or(at.end, |(_, r)| r.end);
            let frequency = match change {
                MedicationChange::Discontinued => None,
                _ => frequency_after(doc, dose_end, segment.end),
            };
            let duplicate = orders
                .iter()
                .any(|o| o.change == change && o.name.as_deref() == Some(name.as_str()));
            if !duplicate {
                orders.push(MedicationOrder {
                    change,
                    name: Some(name.clone()),
                    dose,
                    previous_dose,
                    frequency,
                    tokens: segment.clone(),
                });
            }
        }
    }
    orders
}

/// The patient's medication a clinician's answer names ("sertraline", "the Zoloft").
pub(crate) fn medication_in_answer(answer: &str, current: &[Medication]) -> Option<String> {
    let doc = Doc::new(answer);
    (0..doc.tokens.len()).find_map(|i| medication_at(&doc, i, current).map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn med(name: &str, dose: &str) -> Medication {
        Medication {
            name: name.to_owned(),
            dose: Some(dose.to_owned()),
            frequency: Some("daily".to_owned()),
        }
    }

    fn orders(text: &str, current: &[Medication]) -> Vec<(String, &'static str, Option<String>)> {
        let doc = Doc::new(text);
        read_orders(&doc, current)
            .into_iter()
            .map(|o| (o.name.unwrap_or_default(), o.change.code(), o.dose))
            .collect()
    }

    fn o(
        name: &str,
        change: &'static str,
        dose: Option<&str>,
    ) -> (String, &'static str, Option<String>) {
        (name.to_owned(), change, dose.map(str::to_owned))
    }

    #[test]
    fn start_change_stop() {
        let on = [med("sertraline", "50 mg"), med("trazodone", "50 mg")];
        assert_eq!(
            orders("Increase sertraline from 50 mg to 100 mg daily.", &on),
            [o("sertraline", "changed", Some("100 mg"))]
        );
        assert_eq!(
            orders("Start buspirone 7.5 mg twice daily.", &on),
            [o("buspirone", "started", Some("7.5 mg"))]
        );
        assert_eq!(
            orders(
                "Plan is a direct switch: stop sertraline today and start fluoxetine 20 mg daily tomorrow; trazodone stays the same.",
                &on
            ),
            [
                o("sertraline", "discontinued", None),
                o("fluoxetine", "started", Some("20 mg"))
            ]
        );
        assert_eq!(
            orders("Switch from sertraline to fluoxetine 25mg daily.", &on),
            [
                o("sertraline", "discontinued", None),
                o("fluoxetine", "started", Some("25 mg"))
            ]
        );
        assert_eq!(
            orders("Start methylphenidate ER 18 mg every morning.", &[]),
            [o("methylphenidate ER", "started", Some("18 mg"))]
        );
    }

    #[test]
    fn reports_and_continuations_change_nothing() {
        let on = [med("buspirone", "15 mg"), med("escitalopram", "20 mg")];
        for text in [
            "He's had dizziness most mornings since the buspirone went up.",
            "Stay on escitalopram 20 mg.",
            "Continuing escitalopram 10 mg.",
            "No side effects on the escitalopram.",
            "She'll ask her prescriber about the buspirone.",
            "Her PCP started escitalopram last year.",
            "She has had nausea since starting escitalopram.",
        ] {
            assert!(orders(text, &on).is_empty(), "{text}");
        }
    }

    #[test]
    fn misspelled_names_match_the_patients_list() {
        let on = [med("quetiapine", "50 mg")];
        assert_eq!(
            orders(
                "Lowering quetiapene to 25 mg at bedtime since sleep is stable.",
                &on
            ),
            [o("quetiapine", "changed", Some("25 mg"))]
        );
    }

    #[test]
    fn dose_changes_without_a_name() {
        let doc = Doc::new("Let's go up to 100 mg on her medication.");
        let found = read_orders(&doc, &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, None);
        assert_eq!(found[0].dose.as_deref(), Some("100 mg"));
    }

    #[test]
    fn frequencies_follow_the_dose() {
        let doc = Doc::new("Starting hydroxyzine 25 mg at bedtime as needed for anxiety.");
        let found = read_orders(&doc, &[]);
        assert_eq!(found[0].frequency.as_deref(), Some("at bedtime as needed"));
    }

    #[test]
    fn answers_name_the_medication() {
        let on = [med("sertraline", "50 mg"), med("trazodone", "50 mg")];
        assert_eq!(
            medication_in_answer("sertraline", &on).as_deref(),
            Some("sertraline")
        );
        assert_eq!(
            medication_in_answer("the trazadone", &on).as_deref(),
            Some("trazodone")
        );
        assert_eq!(medication_in_answer("not sure", &on), None);
    }
}
