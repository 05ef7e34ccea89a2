//! The evaluation cases of `ai-eval/FORMAT.md` and the comparison of a run's proposals with a
//! case's expectations, exactly as FORMAT.md specifies.
//!
//! Pure: the caller runs the case (its own scratch organization, the case's clock, answering the
//! run's question with the case's answer) and hands over what the run did as [`RunOutcome`]s.
//! [`compare`] says whether the case passed, why not, and counts per action type what was
//! matched (true positives), proposed but not expected (false positives) and expected but not
//! proposed (misses). [`Report`] adds cases up and prints FORMAT.md's output.
//!
//! Matching: an expected action matches a proposed one of the same type for the same patient
//! when every field the expectation gives agrees (fields left out are not compared, except a
//! billing expectation without `modifiers`, whose primary line must then carry none). Every
//! expected action must be matched by exactly one proposed action and no proposed action may be
//! left over; the pairing is a maximum bipartite matching, so the order of actions never
//! matters.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dictation::{
    CandidatePatient, ClarificationAnswer, ClarificationTopic, Diagnosis, DictationContext,
    Medication, ProposedAction, Provider,
};

/// One evaluation case (one line of a `.jsonl` file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    /// The dictation's wall-clock time, local to `timezone`.
    pub now: jiff::civil::DateTime,
    pub timezone: String,
    pub provider: CaseProvider,
    pub patients: Vec<CasePatient>,
    pub input: String,
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseProvider {
    pub first_name: String,
    pub last_name: String,
    pub credentials: String,
    /// `SOAP`, `DAP` or `BIRP`.
    pub preferred_note_format: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasePatient {
    /// The name the expectations use for this patient.
    pub key: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub preferred_name: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<jiff::civil::Date>,
    #[serde(default)]
    pub diagnoses: Vec<Diagnosis>,
    #[serde(default)]
    pub medications: Vec<Medication>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    /// `None`: the run must reach ready_to_commit without asking.
    pub clarification: Option<ExpectedClarification>,
    #[serde(default)]
    pub actions: Vec<ExpectedAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedClarification {
    pub about: ClarificationTopic,
    /// For `patient` a patient key, otherwise the clinician's words.
    #[serde(default)]
    pub answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedRecurrence {
    #[serde(default)]
    pub freq: Option<String>,
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub interval: Option<u32>,
}

/// An expected action; every field but the type may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExpectedAction {
    CreateEncounter {
        #[serde(default)]
        patient: Option<String>,
        #[serde(default)]
        encounter_type: Option<String>,
        #[serde(default)]
        duration_minutes: Option<u32>,
        #[serde(default)]
        date: Option<jiff::civil::Date>,
    },
    CreateNoteDraft {
        #[serde(default)]
        patient: Option<String>,
        #[serde(default)]
        format: Option<String>,
        #[serde(default)]
        mentions: BTreeMap<String, Vec<String>>,
    },
    SuggestBilling {
        #[serde(default)]
        patient: Option<String>,
        #[serde(default)]
        cpt: Option<Vec<String>>,
        #[serde(default)]
        units: Option<BTreeMap<String, u32>>,
        #[serde(default)]
        icd10: Option<Vec<String>>,
        #[serde(default)]
        icd10_absent: Option<Vec<String>>,
        #[serde(default)]
        modifiers: Option<Vec<String>>,
    },
    UpdateMedication {
        #[serde(default)]
        patient: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        change: Option<String>,
        #[serde(default)]
        dose: Option<String>,
    },
    CreateAppointment {
        #[serde(default)]
        patient: Option<String>,
        /// Local, to the minute ("2026-03-17T15:00").
        #[serde(default)]
        start: Option<jiff::civil::DateTime>,
        #[serde(default)]
        duration_minutes: Option<u32>,
        #[serde(default)]
        recurrence: Option<ExpectedRecurrence>,
    },
}

/// The five action types, in the order FORMAT.md lists them.
pub const ACTION_TYPES: [&str; 5] = [
    "create_encounter",
    "create_note_draft",
    "suggest_billing",
    "update_medication",
    "create_appointment",
];

impl ExpectedAction {
    pub fn action_type(&self) -> &'static str {
        match self {
            Self::CreateEncounter { .. } => ACTION_TYPES[0],
            Self::CreateNoteDraft { .. } => ACTION_TYPES[1],
            Self::SuggestBilling { .. } => ACTION_TYPES[2],
            Self::UpdateMedication { .. } => ACTION_TYPES[3],
            Self::CreateAppointment { .. } => ACTION_TYPES[4],
        }
    }

    fn patient(&self) -> Option<&str> {
        match self {
            Self::CreateEncounter { patient, .. }
            | Self::CreateNoteDraft { patient, .. }
            | Self::SuggestBilling { patient, .. }
            | Self::UpdateMedication { patient, .. }
            | Self::CreateAppointment { patient, .. } => patient.as_deref(),
        }
    }
}

impl Case {
    /// Parses a `.jsonl` file's text: one case a line, blank lines ignored. Errors name the line.
    pub fn parse_jsonl(text: &str) -> Result<Vec<Case>, String> {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1)))
            .collect()
    }

    /// The parser's context for this case, the patients' ids being their keys (an in-memory run;
    /// a run against the database uses the scratch organization's ids and maps them back).
    pub fn context(&self, answers: Vec<ClarificationAnswer>) -> Result<DictationContext, String> {
        let note_format = self
            .provider
            .preferred_note_format
            .parse()
            .map_err(|e| format!("{}: {e}", self.id))?;
        Ok(DictationContext {
            provider: Provider {
                first_name: self.provider.first_name.clone(),
                last_name: self.provider.last_name.clone(),
                credentials: self.provider.credentials.clone(),
                note_format,
            },
            time_zone: self.timezone.clone(),
            now: self.now,
            patients: self
                .patients
                .iter()
                .map(|p| CandidatePatient {
                    id: p.key.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                    preferred_name: p.preferred_name.clone(),
                    date_of_birth: p.date_of_birth,
                    diagnoses: p.diagnoses.clone(),
                    medications: p.medications.clone(),
                    upcoming_appointments: Vec::new(),
                })
                .collect(),
            answers,
            chart_patient: None,
        })
    }

    /// The answer the evaluator gives to the run's question: for `patient` the offered option
    /// whose patient has the case's answer key (`id_of_key` maps a key to the run's patient id),
    /// otherwise the case's words. `None` when the case has no answer, or when no offered option
    /// is that patient (which fails the case).
    pub fn answer(
        &self,
        offered: &crate::dictation::Clarification,
        id_of_key: impl Fn(&str) -> Option<String>,
    ) -> Option<ClarificationAnswer> {
        let expected = self.expect.clarification.as_ref()?;
        let answer = expected.answer.as_deref()?;
        if expected.about == ClarificationTopic::Patient {
            let id = id_of_key(answer)?;
            let option = offered.options.iter().find(|o| o.id == id)?;
            return Some(ClarificationAnswer {
                topic: ClarificationTopic::Patient,
                option_id: Some(option.id.clone()),
                text: None,
            });
        }
        Some(ClarificationAnswer {
            topic: offered.topic,
            option_id: None,
            text: Some(answer.to_owned()),
        })
    }
}

/// What a run ended with, as far as the comparison is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The run stopped to ask (`proposed`: anything it proposed all the same, which must be
    /// nothing).
    NeedsClarification {
        topic: ClarificationTopic,
        proposed: Vec<ProposedAction>,
    },
    /// The run reached ready_to_commit.
    Ready(Vec<ProposedAction>),
    /// The run failed (limits, errors) with this reason.
    Failed(String),
}

/// Matched, spurious and missed actions of one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub true_positives: u32,
    pub false_positives: u32,
    pub false_negatives: u32,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
    }

    /// `None` when nothing was proposed.
    pub fn precision(&self) -> Option<f64> {
        let proposed = self.true_positives + self.false_positives;
        (proposed > 0).then(|| f64::from(self.true_positives) / f64::from(proposed))
    }

    /// `None` when nothing was expected.
    pub fn recall(&self) -> Option<f64> {
        let expected = self.true_positives + self.false_negatives;
        (expected > 0).then(|| f64::from(self.true_positives) / f64::from(expected))
    }
}

/// The comparison's verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub id: String,
    pub passed: bool,
    /// Why it failed, one reason per problem (empty when it passed).
    pub reasons: Vec<String>,
    /// Per action type.
    pub counts: BTreeMap<&'static str, Counts>,
}

impl fmt::Display for CaseResult {
    /// FORMAT.md's line: `PASS id` or `FAIL id: reason; reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed {
            write!(f, "PASS {}", self.id)
        } else {
            write!(f, "FAIL {}: {}", self.id, self.reasons.join("; "))
        }
    }
}

/// Compares a case's run with its expectations. `first` is how the run ended; `resumed` how it
/// ended after the case's answer was given (only when the case has one and the run asked).
/// `key_of` maps a proposed action's patient id to the case's patient key.
pub fn compare(
    case: &Case,
    first: &RunOutcome,
    resumed: Option<&RunOutcome>,
    key_of: impl Fn(&str) -> Option<String>,
) -> CaseResult {
    let mut reasons = Vec::new();
    let expected = &case.expect;
    let proposed: Vec<ProposedAction> = match (&expected.clarification, first) {
        (_, RunOutcome::Failed(why)) => {
            reasons.push(format!("the run failed: {why}"));
            Vec::new()
        }
        (None, RunOutcome::Ready(actions)) => actions.clone(),
        (None, RunOutcome::NeedsClarification { topic, proposed }) => {
            reasons.push(format!(
                "asked about {} where no question was expected",
                topic.code()
            ));
            proposed.clone()
        }
        (Some(want), RunOutcome::Ready(actions)) => {
            reasons.push(format!(
                "proposed without asking; expected a question about {}",
                want.about.code()
            ));
            actions.clone()
        }
        (Some(want), RunOutcome::NeedsClarification { topic, proposed }) => {
            if *topic != want.about {
                reasons.push(format!(
                    "asked about {}; expected a question about {}",
                    topic.code(),
                    want.about.code()
                ));
            }
            if !proposed.is_empty() {
                reasons.push(format!(
                    "proposed {} action(s) while asking",
                    proposed.len()
                ));
            }
            match (&want.answer, resumed) {
                (None, _) => proposed.clone(),
                (Some(_), None) => {
                    reasons.push("the run was not resumed with the answer".to_owned());
                    proposed.clone()
                }
                (Some(_), Some(RunOutcome::Ready(actions))) => {
                    let mut all = proposed.clone();
                    all.extend(actions.iter().cloned());
                    all
                }
                (
                    Some(_),
                    Some(RunOutcome::NeedsClarification {
                        topic,
                        proposed: more,
                    }),
                ) => {
                    reasons.push(format!(
                        "after the answer, asked again about {}",
                        topic.code()
                    ));
                    let mut all = proposed.clone();
                    all.extend(more.iter().cloned());
                    all
                }
                (Some(_), Some(RunOutcome::Failed(why))) => {
                    reasons.push(format!("the resumed run failed: {why}"));
                    proposed.clone()
                }
            }
        }
    };
    let (counts, mismatches) = match_actions(&expected.actions, &proposed, &key_of);
    reasons.extend(mismatches);
    CaseResult {
        id: case.id.clone(),
        passed: reasons.is_empty(),
        reasons,
        counts,
    }
}

type Verdicts = (BTreeMap<&'static str, Counts>, Vec<String>);

/// Pairs expected and proposed actions (maximum bipartite matching) and explains what is left.
fn match_actions(
    expected: &[ExpectedAction],
    proposed: &[ProposedAction],
    key_of: &impl Fn(&str) -> Option<String>,
) -> Verdicts {
    let fits: Vec<Vec<bool>> = expected
        .iter()
        .map(|e| {
            proposed
                .iter()
                .map(|p| mismatch(e, p, key_of).is_none())
                .collect()
        })
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; proposed.len()];
    for e in 0..expected.len() {
        let mut seen = vec![false; proposed.len()];
        augment(e, &fits, &mut owner, &mut seen);
    }
    let matched_expected: Vec<bool> = (0..expected.len())
        .map(|e| owner.contains(&Some(e)))
        .collect();

    let mut counts: BTreeMap<&'static str, Counts> = ACTION_TYPES
        .iter()
        .map(|t| (*t, Counts::default()))
        .collect();
    let mut reasons = Vec::new();
    for (p, action) in proposed.iter().enumerate() {
        let entry = counts.entry(action.action_type()).or_default();
        if owner[p].is_some() {
            entry.true_positives += 1;
        } else {
            entry.false_positives += 1;
            let key = key_of(action.patient_id()).unwrap_or_else(|| action.patient_id().to_owned());
            reasons.push(format!("unexpected {} for {key}", action.action_type()));
        }
    }
    for (e, action) in expected.iter().enumerate() {
        if matched_expected[e] {
            continue;
        }
        counts
            .entry(action.action_type())
            .or_default()
            .false_negatives += 1;
        // Explain with the nearest candidate: same type and patient, else same type.
        let why = proposed
            .iter()
            .filter(|p| p.action_type() == action.action_type())
            .filter_map(|p| mismatch(action, p, key_of))
            .min_by_key(|why| usize::from(why.starts_with("patient")))
            .unwrap_or_else(|| "none proposed".to_owned());
        reasons.push(format!(
            "expected {} for {}: {why}",
            action.action_type(),
            action.patient().unwrap_or("any patient")
        ));
    }
    (counts, reasons)
}

/// Kuhn's augmenting path.
fn augment(e: usize, fits: &[Vec<bool>], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for p in 0..owner.len() {
        if fits[e][p] && !seen[p] {
            seen[p] = true;
            if owner[p].is_none_or(|other| augment(other, fits, owner, seen)) {
                owner[p] = Some(e);
                return true;
            }
        }
    }
    false
}

/// Why `proposed` does not satisfy `expected` (`None`: it does).
pub fn mismatch(
    expected: &ExpectedAction,
    proposed: &ProposedAction,
    key_of: &impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if expected.action_type() != proposed.action_type() {
        return Some(format!(
            "a {} is not a {}",
            proposed.action_type(),
            expected.action_type()
        ));
    }
    if let Some(want) = expected.patient() {
        let got = key_of(proposed.patient_id());
        if got.as_deref() != Some(want) {
            return Some(format!(
                "patient is {}",
                got.unwrap_or_else(|| proposed.patient_id().to_owned())
            ));
        }
    }
    match (expected, proposed) {
        (
            ExpectedAction::CreateEncounter {
                encounter_type,
                duration_minutes,
                date,
                ..
            },
            ProposedAction::CreateEncounter(p),
        ) => {
            if let Some(t) = encounter_type
                && t != p.encounter_type.code()
            {
                return Some(format!(
                    "encounter_type is {}, not {t}",
                    p.encounter_type.code()
                ));
            }
            if let Some(m) = duration_minutes
                && *m != p.duration_minutes
            {
                return Some(format!(
                    "duration_minutes is {}, not {m}",
                    p.duration_minutes
                ));
            }
            if let Some(d) = date
                && *d != p.date
            {
                return Some(format!("date is {}, not {d}", p.date));
            }
            None
        }
        (
            ExpectedAction::CreateNoteDraft {
                format, mentions, ..
            },
            ProposedAction::CreateNoteDraft(p),
        ) => {
            if let Some(f) = format
                && *f != p.format
            {
                return Some(format!("format is {}, not {f}", p.format));
            }
            for (section, words) in mentions {
                let text = p.sections.get(section).map_or("", String::as_str);
                for word in words {
                    if !contains_word(text, word) {
                        return Some(format!("section {section} lacks \"{word}\""));
                    }
                }
            }
            None
        }
        (
            ExpectedAction::SuggestBilling {
                cpt,
                units,
                icd10,
                icd10_absent,
                modifiers,
                ..
            },
            ProposedAction::SuggestBilling(p),
        ) => {
            let codes: Vec<&str> = p.lines.iter().map(|l| l.cpt.as_str()).collect();
            if let Some(cpt) = cpt {
                let mut want: Vec<&str> = cpt.iter().map(String::as_str).collect();
                let mut got = codes.clone();
                want.sort_unstable();
                want.dedup();
                got.sort_unstable();
                got.dedup();
                if want != got {
                    return Some(format!("cpt is {}, not {}", got.join("+"), want.join("+")));
                }
                for line in &p.lines {
                    let want_units = units
                        .as_ref()
                        .and_then(|u| u.get(&line.cpt))
                        .copied()
                        .unwrap_or(1);
                    if line.units != want_units {
                        return Some(format!(
                            "{} has {} unit(s), not {want_units}",
                            line.cpt, line.units
                        ));
                    }
                }
            }
            if let Some(icd10) = icd10
                && let Some(missing) = icd10.iter().find(|c| !p.icd10.contains(c))
            {
                return Some(format!("icd10 {} lacks {missing}", p.icd10.join(",")));
            }
            if let Some(absent) = icd10_absent
                && let Some(present) = absent.iter().find(|c| p.icd10.contains(c))
            {
                return Some(format!("icd10 {} has {present}", p.icd10.join(",")));
            }
            let mut on_primary: Vec<&str> = p
                .lines
                .first()
                .map(|l| l.modifiers.iter().map(String::as_str).collect())
                .unwrap_or_default();
            on_primary.sort_unstable();
            let mut want: Vec<&str> = modifiers
                .as_ref()
                .map(|m| m.iter().map(String::as_str).collect())
                .unwrap_or_default();
            want.sort_unstable();
            if on_primary != want {
                return Some(format!(
                    "modifiers are [{}], not [{}]",
                    on_primary.join(","),
                    want.join(",")
                ));
            }
            None
        }
        (
            ExpectedAction::UpdateMedication {
                name, change, dose, ..
            },
            ProposedAction::UpdateMedication(p),
        ) => {
            if let Some(n) = name
                && !n.eq_ignore_ascii_case(&p.name)
                && n.to_lowercase() != p.name.to_lowercase()
            {
                return Some(format!("name is {}, not {n}", p.name));
            }
            if let Some(c) = change
                && c != p.change.code()
            {
                return Some(format!("change is {}, not {c}", p.change.code()));
            }
            if let Some(d) = dose {
                let got = p.dose.as_deref().unwrap_or("");
                if compact(d) != compact(got) {
                    return Some(format!("dose is {got:?}, not {d}"));
                }
            }
            None
        }
        (
            ExpectedAction::CreateAppointment {
                start,
                duration_minutes,
                recurrence,
                ..
            },
            ProposedAction::CreateAppointment(p),
        ) => {
            if let Some(s) = start {
                let to_minute = |t: jiff::civil::DateTime| (t.date(), t.hour(), t.minute());
                if to_minute(*s) != to_minute(p.start) {
                    return Some(format!(
                        "start is {}, not {}",
                        p.start.strftime("%Y-%m-%dT%H:%M"),
                        s.strftime("%Y-%m-%dT%H:%M")
                    ));
                }
            }
            if let Some(m) = duration_minutes
                && *m != p.duration_minutes
            {
                return Some(format!(
                    "duration_minutes is {}, not {m}",
                    p.duration_minutes
                ));
            }
            if let Some(want) = recurrence {
                let Some(got) = &p.recurrence else {
                    return Some("no recurrence".to_owned());
                };
                if let Some(f) = &want.freq
                    && !f.eq_ignore_ascii_case(&got.freq)
                {
                    return Some(format!("recurrence freq is {}, not {f}", got.freq));
                }
                if want.count.is_some() && want.count != got.count {
                    return Some(format!(
                        "recurrence count is {:?}, not {:?}",
                        got.count, want.count
                    ));
                }
                if let Some(i) = want.interval
                    && i != got.interval
                {
                    return Some(format!("recurrence interval is {}, not {i}", got.interval));
                }
            }
            None
        }
        _ => Some("a different action type".to_owned()),
    }
}

/// Case and spaces ignored ("25mg" is "25 mg").
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `word` appears in `text` as a whole word, case-insensitive: not inside a longer word
/// ("walk" is not in "walking").
pub fn contains_word(text: &str, word: &str) -> bool {
    let text = text.to_lowercase();
    let word = word.to_lowercase();
    if word.is_empty() {
        return true;
    }
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|t| t.find(&word)) {
        let start = from + at;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Results added up over a file of cases.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub results: Vec<CaseResult>,
}

impl Report {
    pub fn push(&mut self, result: CaseResult) {
        self.results.push(result);
    }

    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Per action type, over all cases.
    pub fn counts(&self) -> BTreeMap<&'static str, Counts> {
        let mut total: BTreeMap<&'static str, Counts> = ACTION_TYPES
            .iter()
            .map(|t| (*t, Counts::default()))
            .collect();
        for result in &self.results {
            for (t, c) in &result.counts {
                total.entry(t).or_default().add(*c);
            }
        }
        total
    }
}

impl fmt::Display for Report {
    /// FORMAT.md's output: a line per case, precision and recall per action type, then
    /// `N passed, M failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for result in &self.results {
            writeln!(f, "{result}")?;
        }
        let counts = self.counts();
        for t in ACTION_TYPES {
            let c = counts.get(t).copied().unwrap_or_default();
            let pct = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{:.1}%", v * 100.0));
            writeln!(
                f,
                "{t}: precision {} recall {} (tp {}, fp {}, fn {})",
                pct(c.precision()),
                pct(c.recall()),
                c.true_positives,
                c.false_positives,
                c.false_negatives
            )?;
        }
        write!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

#[cfg(test)]
mod tests;
