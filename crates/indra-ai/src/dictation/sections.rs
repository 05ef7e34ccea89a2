//! The note draft: each clause of the dictation routed to a section of the provider's format.
//!
//! A clause is first given a kind in the clinician's terms — what the patient reported, what was
//! observed, what the clinician did, how the patient responded, what the patient agreed to, the
//! assessment, the plan — and the kind is then placed in the format's section:
//!
//! | kind | SOAP | DAP | BIRP |
//! | --- | --- | --- | --- |
//! | report | subjective | data | behavior |
//! | observation | objective | data | behavior |
//! | intervention | objective | data | intervention |
//! | response | objective | data | response |
//! | commitment ("agreed to", "she'd use it") | plan | plan | response |
//! | assessment | assessment | assessment | response |
//! | plan | plan | plan | plan |
//!
//! A spoken label ("Assessment:", "Behavior:", "Plan for both:") decides for its sentence.
//! Otherwise the kind is scored from cue words; a clause without cues is the patient's story
//! (report), the commonest content of an unlabeled dictation.
//!
//! In a group note, a clause about one member goes to that member's note only, and a clause that
//! names several members (or an absent one) goes to nobody's: one member's note must not carry
//! another's name.

use std::collections::BTreeMap;
use std::ops::Range;

use indra_rules::clinical::note_format::NoteFormat;

use super::text::Doc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Report,
    Observation,
    Intervention,
    Response,
    Commitment,
    Assessment,
    Plan,
}

impl Kind {
    pub fn section(self, format: NoteFormat) -> &'static str {
        use Kind::*;
        match (format, self) {
            (NoteFormat::Soap, Report) => "subjective",
            (NoteFormat::Soap, Observation | Intervention | Response) => "objective",
            (NoteFormat::Soap, Assessment) => "assessment",
            (NoteFormat::Soap, Plan | Commitment) => "plan",
            (NoteFormat::Dap, Report | Observation | Intervention | Response) => "data",
            (NoteFormat::Dap, Assessment) => "assessment",
            (NoteFormat::Dap, Plan | Commitment) => "plan",
            (NoteFormat::Birp, Report | Observation) => "behavior",
            (NoteFormat::Birp, Intervention) => "intervention",
            (NoteFormat::Birp, Response | Commitment | Assessment) => "response",
            (NoteFormat::Birp, Plan) => "plan",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Clause {
    pub tokens: Range<usize>,
    pub kind: Kind,
    pub sentence: usize,
    /// Starts with "he", "she", "his", "her", "they": goes on about someone named before.
    pub starts_with_pronoun: bool,
}

const LABELS: &[(&str, Kind)] = &[
    ("subjective", Kind::Report),
    ("objective", Kind::Observation),
    ("mental status", Kind::Observation),
    ("mental status exam", Kind::Observation),
    ("mse", Kind::Observation),
    ("exam", Kind::Observation),
    ("assessment", Kind::Assessment),
    ("impression", Kind::Assessment),
    ("formulation", Kind::Assessment),
    ("diagnosis", Kind::Assessment),
    ("plan", Kind::Plan),
    ("data", Kind::Report),
    ("behavior", Kind::Observation),
    ("behaviour", Kind::Observation),
    ("presentation", Kind::Observation),
    ("intervention", Kind::Intervention),
    ("interventions", Kind::Intervention),
    ("response", Kind::Response),
];

/// The label a sentence starts with ("Plan for both:"), with the tokens it covers (colon
/// included).
fn label_at(doc: &Doc, sentence: Range<usize>) -> Option<(Kind, usize)> {
    let first = sentence.start;
    for (label, kind) in LABELS {
        let Some(n) = doc.phrase_len_at(first, label) else {
            continue;
        };
        // "Plan:", "Plan for both:" (a colon within three more words)
        for extra in 0..=3 {
            let colon = first + n + extra;
            if colon >= sentence.end {
                break;
            }
            if doc.norm(colon) == ":" {
                return Some((*kind, colon + 1 - first));
            }
        }
        if *kind == Kind::Plan && matches!(doc.norm(first + n), "is" | "to" | "will" | "remains") {
            return Some((Kind::Plan, n));
        }
    }
    // Single-letter SOAP/DAP/BIRP labels ("S:", "P:").
    let token = doc.tokens.get(first)?;
    if token.capitalized && token.norm.len() == 1 && doc.norm(first + 1) == ":" {
        let kind = match token.norm.as_str() {
            "s" | "d" => Kind::Report,
            "o" | "b" => Kind::Observation,
            "a" => Kind::Assessment,
            "p" => Kind::Plan,
            "i" => Kind::Intervention,
            "r" => Kind::Response,
            _ => return None,
        };
        return Some((kind, 2));
    }
    None
}

const SUBJECTS: &[&str] = &["we", "i", "she", "he", "they", "parents", "mom", "dad"];
const SPLIT_AFTER_AND: &[&str] = &[
    "we", "i", "she", "he", "they", "said", "says", "reported", "reports", "agreed", "stated",
];
const CONNECTIVES: &[&str] = &["but", "then", "afterward", "afterwards", "so"];

/// Clause ranges of a sentence: at ';', at ',' before a new subject or connective, and at
/// "and"/"but" before a new subject or a verb of saying.
#[cfg(test)]
fn split_clauses(doc: &Doc, sentence: Range<usize>) -> Vec<Range<usize>> {
    split_clauses_joined(doc, sentence)
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// The clauses, each with whether it was split from the one before at a conjunction ("and she
/// agreed", ", and he said") rather than at ';' or a plain comma.
fn split_clauses_joined(doc: &Doc, sentence: Range<usize>) -> Vec<(Range<usize>, bool)> {
    let mut out = Vec::new();
    let mut joined = false;
    let mut start = sentence.start;
    let mut i = sentence.start;
    while i < sentence.end {
        let word = doc.norm(i);
        let next = doc.norm(i + 1);
        let (cut, skip, conjunction) = match word {
            ";" => (true, 1, false),
            "," if next == "and" && SPLIT_AFTER_AND.contains(&doc.norm(i + 2)) => (true, 1, true),
            "," if SUBJECTS.contains(&next) || CONNECTIVES.contains(&next) => (true, 1, false),
            "and" | "but" if SPLIT_AFTER_AND.contains(&next) => (true, 0, true),
            _ => (false, 0, false),
        };
        if cut && i > start {
            out.push((start..i, joined));
            start = i + skip;
            joined = conjunction;
        } else if cut {
            start = i + skip;
            joined = conjunction;
        }
        i += 1;
    }
    if sentence.end > start {
        out.push((start..sentence.end, joined));
    }
    out
}

type Cues = &'static [(&'static str, u32)];

const REPORT: Cues = &[
    ("reports", 2),
    ("reported", 2),
    ("says", 2),
    ("said", 2),
    ("states", 2),
    ("stated", 2),
    ("describes", 2),
    ("described", 2),
    ("describing", 2),
    ("talked about", 2),
    ("complains", 2),
    ("complained", 2),
    ("endorses", 2),
    ("endorsed", 2),
    ("disclosed", 2),
    ("shared", 2),
    ("admits", 2),
    ("admitted", 2),
    ("she's been", 2),
    ("he's been", 2),
    ("has been", 2),
    ("feels", 2),
    ("feeling", 2),
    ("felt", 1),
    ("mood is", 2),
    ("mood has been", 2),
    ("worried about", 1),
    ("denies", 1),
    ("referred by", 2),
    ("referred for", 2),
    ("self-referred", 2),
    ("history of", 1),
    ("since", 1),
];
const OBSERVATION: Cues = &[
    ("appeared", 2),
    ("appears", 2),
    ("presented", 2),
    ("presents", 2),
    ("looked", 2),
    ("looks", 2),
    ("affect", 2),
    ("eye contact", 2),
    ("speech", 2),
    ("groomed", 2),
    ("well-groomed", 2),
    ("well-kempt", 2),
    ("dressed", 2),
    ("oriented", 2),
    ("alert", 2),
    ("cooperative", 2),
    ("mental status", 2),
    ("thought process", 2),
    ("insight", 2),
    ("judgment", 2),
    ("psychomotor", 2),
    ("vitals", 2),
    ("bp", 2),
    ("exam", 2),
    ("score", 2),
    ("phq-9", 2),
    ("gad-7", 2),
    ("hyperventilating", 2),
    ("smelled", 2),
    ("disheveled", 2),
    ("soft-spoken", 2),
    ("tearful", 1),
    ("fidgety", 1),
    ("fidgeting", 1),
    ("restless", 1),
    ("tense", 1),
    ("calm", 1),
    ("guarded", 1),
    ("hypervigilant", 1),
    ("sullen", 1),
    ("agitated", 1),
    ("euthymic", 1),
    ("quiet", 1),
    ("irritable", 1),
    ("constricted", 1),
    ("bright", 1),
    ("brighter", 1),
    ("smiling", 1),
    ("anxious", 1),
    ("defensive", 1),
    ("distracted", 1),
    ("confused", 1),
    ("crying", 1),
    ("withdrawn", 1),
    ("engaged", 1),
    ("was", 1),
    ("were", 1),
    ("arrived", 1),
    ("came in", 1),
];
const INTERVENTION: Cues = &[
    ("psychoeducation", 1),
    ("cbt", 1),
    ("emdr", 1),
    ("dbt", 1),
    ("motivational interviewing", 1),
    ("safety plan", 1),
    ("role-play", 1),
    ("role-played", 1),
    ("exposure", 1),
    ("skills", 1),
    ("grounding", 1),
    ("cognitive restructuring", 1),
    ("behavioral activation", 1),
    ("problem solving", 1),
    ("problem-solved", 1),
    ("relaxation", 1),
    ("mindfulness", 1),
    ("practiced", 1),
    ("reviewed", 1),
    ("taught", 1),
    ("introduced", 1),
    ("provided", 1),
    ("validated", 1),
    ("completed", 1),
    ("processed", 1),
    ("explored", 1),
    ("redirected", 1),
    ("modeled", 1),
    ("coached", 1),
    ("therapy portion", 1),
    ("facilitated", 1),
];
const RESPONSE: Cues = &[
    ("responded", 2),
    ("response", 1),
    ("receptive", 2),
    ("was able", 2),
    ("able to", 2),
    ("by the end", 2),
    ("afterward", 2),
    ("afterwards", 2),
    ("calmer", 2),
    ("relief", 2),
    ("came down", 2),
    ("went down", 2),
    ("dropped", 2),
    ("named", 2),
    ("identified", 2),
    ("earned", 2),
    ("caught", 2),
    ("willing", 2),
    ("skeptical", 2),
    ("softened", 2),
    ("apologized", 2),
    ("recalled", 2),
    ("settled", 2),
    ("more relaxed", 2),
    ("tolerated", 2),
];
const COMMITMENT: Cues = &[
    ("agreed", 3),
    ("she'd", 3),
    ("he'd", 3),
    ("they'd", 3),
    ("could see using", 3),
    ("would use", 3),
    ("committed to", 3),
    ("was willing to", 3),
];
const ASSESSMENT: Cues = &[
    ("assessment", 2),
    ("disorder", 2),
    ("diagnosis", 2),
    ("depression", 2),
    ("depressive", 2),
    ("ptsd", 2),
    ("ocd", 2),
    ("adhd", 2),
    ("bipolar", 2),
    ("mdd", 2),
    ("dysthymia", 2),
    ("adjustment", 2),
    ("acute stress", 2),
    ("improving", 2),
    ("improved", 2),
    ("improvement", 2),
    ("progress", 2),
    ("stable", 1),
    ("partial response", 2),
    ("partial remission", 2),
    ("remission", 2),
    ("consistent with", 2),
    ("meets criteria", 2),
    ("criteria", 1),
    ("risk", 2),
    ("prognosis", 2),
    ("persist", 2),
    ("persists", 2),
    ("maintains", 2),
    ("maintained", 2),
    ("maintaining", 2),
    ("gains", 2),
    ("consolidating", 2),
    ("symptoms", 2),
    ("moderate", 1),
    ("mild", 1),
    ("severe", 1),
    ("no safety concerns", 2),
    ("not at goal", 2),
    ("driven by", 2),
    ("complicated by", 2),
    ("worsened", 2),
    ("worsening", 1),
    ("decreased", 1),
    ("increased", 1),
    ("reduced", 1),
    ("declined", 1),
];
const PLAN: Cues = &[
    ("will", 2),
    ("we'll", 2),
    ("she'll", 2),
    ("he'll", 2),
    ("they'll", 2),
    ("continue", 2),
    ("continuing", 2),
    ("next session", 2),
    ("next time", 2),
    ("next group", 2),
    ("next week", 1),
    ("follow up", 2),
    ("follow-up", 2),
    ("return", 2),
    ("homework", 2),
    ("refer", 2),
    ("referral", 2),
    ("schedule", 2),
    ("recheck", 2),
    ("see her", 2),
    ("see him", 2),
    ("practice", 1),
    ("assign", 2),
    ("assigned", 1),
    ("coordinate", 1),
    ("track", 1),
    ("keep", 1),
];

fn score(doc: &Doc, clause: Range<usize>, cues: Cues) -> u32 {
    let mut total = 0;
    for i in clause.clone() {
        for (phrase, weight) in cues {
            if let Some(n) = doc.phrase_len_at(i, phrase)
                && i + n <= clause.end
            {
                total += weight;
            }
        }
    }
    total
}

/// "we did", "I taught": the clinician as subject of a past-tense verb.
fn clinician_acted(doc: &Doc, clause: Range<usize>) -> u32 {
    let irregular = [
        "did", "taught", "built", "went", "made", "set", "gave", "began", "led",
    ];
    let mut total = 0;
    for i in clause.clone() {
        let clinician = matches!(
            doc.norm(i),
            "we" | "i" | "therapist" | "clinician" | "counselor" | "writer" | "provider"
        );
        if clinician && i + 1 < clause.end {
            let verb = doc.norm(i + 1);
            if verb.ends_with("ed") || irregular.contains(&verb) {
                total += 2;
            }
        }
    }
    total
}

/// Classifies the clauses of the whole dictation. `anchors` are token ranges that make a clause
/// part of the plan (medication orders, appointments).
pub(crate) fn classify(doc: &Doc, anchors: &[Range<usize>]) -> Vec<Clause> {
    let mut clauses = Vec::new();
    for (n, sentence) in doc.sentences.iter().enumerate() {
        let label = label_at(doc, sentence.clone());
        let body = match label {
            Some((_, len)) => sentence.start + len..sentence.end,
            None => sentence.clone(),
        };
        let parts = split_clauses_joined(doc, body);
        let scored: Vec<(Kind, u32)> = parts
            .iter()
            .map(|(tokens, _)| match label {
                Some((kind, _)) => (kind, u32::MAX),
                None => kind_of(doc, tokens.clone(), anchors),
            })
            .collect();
        for (k, (tokens, joined)) in parts.iter().enumerate() {
            let (mut kind, strength) = scored[k];
            // A fragment joined by a conjunction that says little on its own ("... but she is
            // more aware of her triggers", "The parents engaged and agreed ...") reads with the
            // clause it is joined to.
            if strength <= 1 {
                let partner = if *joined && k > 0 {
                    Some(scored[k - 1])
                } else if parts.get(k + 1).is_some_and(|(_, j)| *j) {
                    scored.get(k + 1).copied()
                } else {
                    None
                };
                if let Some((partner_kind, partner_strength)) = partner
                    && partner_strength > strength
                {
                    kind = partner_kind;
                }
            }
            clauses.push(Clause {
                tokens: tokens.clone(),
                kind,
                sentence: n,
                starts_with_pronoun: matches!(
                    doc.norm(tokens.start),
                    "he" | "she" | "his" | "her" | "they" | "their" | "him"
                ),
            });
        }
    }
    clauses
}

/// The clause's kind and the score it won with.
fn kind_of(doc: &Doc, clause: Range<usize>, anchors: &[Range<usize>]) -> (Kind, u32) {
    let anchored = anchors
        .iter()
        .any(|a| a.start < clause.end && clause.start < a.end);
    let plan_start = u32::from(doc.norm(clause.start) == "plan") * 3;
    let scores = [
        (
            Kind::Plan,
            score(doc, clause.clone(), PLAN) + plan_start + u32::from(anchored) * 3,
        ),
        (Kind::Commitment, score(doc, clause.clone(), COMMITMENT)),
        (Kind::Response, score(doc, clause.clone(), RESPONSE)),
        (
            Kind::Intervention,
            score(doc, clause.clone(), INTERVENTION) + clinician_acted(doc, clause.clone()),
        ),
        (Kind::Assessment, score(doc, clause.clone(), ASSESSMENT)),
        (Kind::Observation, score(doc, clause.clone(), OBSERVATION)),
        (Kind::Report, score(doc, clause.clone(), REPORT)),
    ];
    // Highest score; on a tie the earlier kind in this list.
    let mut best = (Kind::Report, 0);
    for (kind, s) in scores {
        if s > best.1 {
            best = (kind, s);
        }
    }
    best
}

/// The note's sections for the clauses kept, each section's text in dictation order. Every
/// section of the format is present (empty when nothing was said for it).
pub(crate) fn compose(
    doc: &Doc,
    clauses: &[&Clause],
    format: NoteFormat,
) -> BTreeMap<String, String> {
    let mut sections: BTreeMap<String, Vec<Range<usize>>> = format
        .sections()
        .iter()
        .map(|s| ((*s).to_owned(), Vec::new()))
        .collect();
    for clause in clauses {
        let ranges = sections
            .entry(clause.kind.section(format).to_owned())
            .or_default();
        match ranges.last_mut() {
            // Consecutive clauses of one sentence read as the sentence.
            Some(last) if adjacent(doc, last.end, clause.tokens.start) => {
                last.end = clause.tokens.end
            }
            _ => ranges.push(clause.tokens.clone()),
        }
    }
    sections
        .into_iter()
        .map(|(key, ranges)| {
            let text: Vec<String> = ranges.into_iter().map(|r| sentence_text(doc, r)).collect();
            (key, text.join(" "))
        })
        .collect()
}

fn adjacent(doc: &Doc, end: usize, start: usize) -> bool {
    (end..start).all(|i| matches!(doc.norm(i), "," | ";"))
}

/// A clause as a sentence: capitalized, ending in a period.
fn sentence_text(doc: &Doc, range: Range<usize>) -> String {
    let mut range = range;
    while range.start < range.end && matches!(doc.norm(range.start), "," | ";" | ":") {
        range.start += 1;
    }
    let raw = doc.slice(range).trim();
    let mut chars = raw.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    let trimmed = text.trim_end_matches([',', ';', ':']).len();
    text.truncate(trimmed);
    if !text.is_empty() && !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(text: &str, format: NoteFormat) -> BTreeMap<String, String> {
        let doc = Doc::new(text);
        let clauses = classify(&doc, &[]);
        let refs: Vec<&Clause> = clauses.iter().collect();
        compose(&doc, &refs, format)
    }

    #[test]
    fn labels_decide_their_sentence() {
        let s = route(
            "Behavior: arrived guarded. Intervention: EMDR processing. Response: SUDS came down. Plan: keep going.",
            NoteFormat::Birp,
        );
        assert_eq!(s["behavior"], "Arrived guarded.");
        assert_eq!(s["intervention"], "EMDR processing.");
        assert_eq!(s["response"], "SUDS came down.");
        assert_eq!(s["plan"], "Keep going.");
    }

    #[test]
    fn unlabeled_clauses_are_scored() {
        let s = route(
            "She reports worsening insomnia. She was fidgety, affect anxious, and she denies \
             suicidal thoughts. Panic disorder, moderate, with growing avoidance. We will \
             continue CBT.",
            NoteFormat::Soap,
        );
        assert!(s["subjective"].contains("insomnia"), "{s:?}");
        assert!(s["objective"].contains("fidgety"), "{s:?}");
        assert!(s["assessment"].contains("avoidance"), "{s:?}");
        assert!(s["plan"].contains("CBT"), "{s:?}");
    }

    #[test]
    fn one_kind_lands_in_each_formats_section() {
        let text = "We practiced grounding. She agreed to a daily walk.";
        let soap = route(text, NoteFormat::Soap);
        assert!(soap["objective"].contains("grounding") && soap["plan"].contains("walk"));
        let dap = route(text, NoteFormat::Dap);
        assert!(dap["data"].contains("grounding") && dap["plan"].contains("walk"));
        let birp = route(text, NoteFormat::Birp);
        assert!(birp["intervention"].contains("grounding") && birp["response"].contains("walk"));
    }

    #[test]
    fn clauses_split_at_new_subjects() {
        let doc = Doc::new(
            "Paul was quiet but participated and said he could see using it; afterward he left.",
        );
        let parts: Vec<&str> = split_clauses(&doc, doc.sentences[0].clone())
            .into_iter()
            .map(|r| doc.slice(r))
            .collect();
        assert_eq!(
            parts,
            [
                "Paul was quiet but participated",
                "and said he could see using it",
                "afterward he left."
            ]
        );
    }

    #[test]
    fn every_section_is_present() {
        let s = route("", NoteFormat::Dap);
        assert_eq!(s.keys().collect::<Vec<_>>(), ["assessment", "data", "plan"]);
    }
}
