//! The `rules` model: a deterministic reader of clinical dictations.
//!
//! [`interpret`] turns a dictation and what the run knows ([`DictationContext`]) into either one
//! question for the clinician ([`Interpretation::NeedsClarification`]) or the proposed changes
//! ([`Interpretation::Proposals`]). It is a plain function: no database, no clock (the run's
//! clock is in the context), no network. The run loop calls it as its model and persists what
//! it returns; a resumed run calls it again with the clinician's answers in the context.
//!
//! The parts, each in its module with its own rules and tests: [`text`] (tokens, sentences,
//! character offsets), `patients` (names, nicknames, misspellings), `duration` (minutes, time
//! ranges, psychotherapy minutes), `session` (type, modality, interactive complexity),
//! `schedule` and `clock` (appointment phrases), `medications`, `diagnoses`, `sections` (the
//! note draft).

mod clock;
mod diagnoses;
mod duration;
mod medications;
mod patients;
mod schedule;
mod sections;
mod session;
pub(crate) mod text;

use std::collections::BTreeMap;
use std::ops::Range;

use indra_rules::billing::code_suggestion::{
    PatientStatus, SessionFacts, is_prescriber, suggest_codes,
};
use indra_rules::clinical::note_format::NoteFormat;
use jiff::civil::{Date, DateTime, Time};
use serde::{Deserialize, Serialize};

pub use medications::MedicationChange;
pub use session::{EncounterKind, Modality};

use schedule::TimeSpec;
use text::Doc;

/// The provider dictating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub first_name: String,
    pub last_name: String,
    /// As written on the provider's record ("LCSW", "PMHNP-BC", "MD"): prescribers bill E/M.
    pub credentials: String,
    /// The note format the draft is written in.
    #[serde(with = "note_format_code")]
    pub note_format: NoteFormat,
}

mod note_format_code {
    use indra_rules::clinical::note_format::NoteFormat;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(format: &NoteFormat, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(format.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NoteFormat, D::Error> {
        let code = String::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

/// One of the patient's diagnoses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub code: String,
    #[serde(default)]
    pub primary: bool,
}

/// One of the patient's active medications.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medication {
    pub name: String,
    #[serde(default)]
    pub dose: Option<String>,
    #[serde(default)]
    pub frequency: Option<String>,
}

/// A booked appointment of the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcomingAppointment {
    pub start: DateTime,
    pub duration_minutes: u32,
}

/// A patient the dictation may be about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidatePatient {
    /// Opaque to the parser (the patient's uuid, or an evaluation case's key); returned as is.
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub preferred_name: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<Date>,
    /// Active diagnoses, the primary flagged.
    #[serde(default)]
    pub diagnoses: Vec<Diagnosis>,
    #[serde(default)]
    pub medications: Vec<Medication>,
    #[serde(default)]
    pub upcoming_appointments: Vec<UpcomingAppointment>,
}

impl CandidatePatient {
    fn label(&self) -> String {
        let name = format!("{} {}", self.first_name, self.last_name);
        match self.date_of_birth {
            Some(dob) => format!("{name} (born {dob})"),
            None => name,
        }
    }
}

/// What a clarification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClarificationTopic {
    Patient,
    Duration,
    DateTime,
    EncounterType,
    Medication,
}

impl ClarificationTopic {
    pub fn code(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Duration => "duration",
            Self::DateTime => "date_time",
            Self::EncounterType => "encounter_type",
            Self::Medication => "medication",
        }
    }
}

/// The clinician's answer to an earlier question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClarificationAnswer {
    pub topic: ClarificationTopic,
    /// The option chosen ([`ClarificationOption::id`]), when the question offered options.
    #[serde(default)]
    pub option_id: Option<String>,
    /// The clinician's words ("50 minutes", "Thursday", "sertraline").
    #[serde(default)]
    pub text: Option<String>,
}

/// Everything the parser may use besides the dictation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DictationContext {
    pub provider: Provider,
    /// The organization's IANA time zone ("America/Chicago").
    pub time_zone: String,
    /// The run's clock, local to `time_zone`: "today", "next Tuesday" resolve against it.
    pub now: DateTime,
    pub patients: Vec<CandidatePatient>,
    /// Answers given so far, oldest first (a run may ask more than once).
    #[serde(default)]
    pub answers: Vec<ClarificationAnswer>,
    /// The patient whose chart the dictation was started from (an id of `patients`): the
    /// patient meant when the dictation names nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_patient: Option<String>,
}

impl DictationContext {
    fn answer(&self, topic: ClarificationTopic) -> Option<&ClarificationAnswer> {
        self.answers.iter().rev().find(|a| a.topic == topic)
    }
}

/// An option offered with a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClarificationOption {
    /// For `patient`: the patient's id; for `medication`: the medication's name.
    pub id: String,
    pub label: String,
}

/// A question the run must ask before it can propose anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clarification {
    pub topic: ClarificationTopic,
    pub question: String,
    pub options: Vec<ClarificationOption>,
    /// Character offsets into the dictation the question is about.
    pub evidence: Vec<Range<usize>>,
}

/// A session to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncounterProposal {
    pub patient_id: String,
    pub encounter_type: EncounterKind,
    pub modality: Modality,
    /// The local day the session was held.
    pub date: Date,
    /// When it started, if the dictation says.
    pub start_time: Option<Time>,
    pub duration_minutes: u32,
    /// For medication visits: the separately stated psychotherapy minutes.
    pub psychotherapy_minutes: Option<u32>,
    pub interactive_complexity: bool,
    /// For family therapy: whether the patient took part.
    pub patient_present: bool,
    pub evidence: Vec<Range<usize>>,
}

/// A note draft (`note_drafts`), never a clinical note: the provider reviews, edits and signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteDraftProposal {
    pub patient_id: String,
    /// `SOAP`, `DAP` or `BIRP`.
    pub format: String,
    /// The note body: one entry per section of the format.
    pub sections: BTreeMap<String, String>,
    pub evidence: Vec<Range<usize>>,
}

/// One suggested claim line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingLine {
    pub cpt: String,
    pub units: u32,
    pub modifiers: Vec<String>,
    pub why: String,
}

/// Codes for the session, from the billing rules (`code_suggestion::suggest_codes`), never
/// invented here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingProposal {
    pub patient_id: String,
    /// The primary line first.
    pub lines: Vec<BillingLine>,
    /// ICD-10 codes, the primary first.
    pub icd10: Vec<String>,
    pub place_of_service: String,
    pub not_billed: Vec<String>,
    pub evidence: Vec<Range<usize>>,
}

/// A change to the patient's medication list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicationProposal {
    pub patient_id: String,
    pub change: MedicationChange,
    pub name: String,
    /// Amount and unit ("100 mg"), without the frequency.
    pub dose: Option<String>,
    pub frequency: Option<String>,
    pub previous_dose: Option<String>,
    pub evidence: Vec<Range<usize>>,
}

/// A series rule in the form `appointments.recurrence_rule` stores (see
/// `indra_rules::clinical::recurrence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// `WEEKLY` or `MONTHLY`.
    pub freq: String,
    pub interval: u32,
    /// Occurrences, the first included; `None` when the dictation set no end.
    pub count: Option<u32>,
}

impl Recurrence {
    /// The stored JSON (`{"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6}`).
    pub fn to_rule_json(&self) -> serde_json::Value {
        let mut rule = serde_json::json!({"FREQ": self.freq, "INTERVAL": self.interval});
        if let (Some(count), Some(object)) = (self.count, rule.as_object_mut()) {
            object.insert("COUNT".to_owned(), count.into());
        }
        rule
    }
}

/// An appointment to book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentProposal {
    pub patient_id: String,
    /// Local to the organization's time zone.
    pub start: DateTime,
    /// The same moment as an instant (`None` if the time zone is unknown to the system).
    pub starts_at: Option<jiff::Timestamp>,
    /// As said, or else the dictated session's length.
    pub duration_minutes: u32,
    pub recurrence: Option<Recurrence>,
    pub evidence: Vec<Range<usize>>,
}

/// One proposed change. The run stores each as an `ai_proposed_actions` row (its `payload` this
/// value as JSON); nothing is written to clinical tables until a provider commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProposedAction {
    CreateEncounter(EncounterProposal),
    CreateNoteDraft(NoteDraftProposal),
    SuggestBilling(BillingProposal),
    UpdateMedication(MedicationProposal),
    CreateAppointment(AppointmentProposal),
}

impl ProposedAction {
    pub fn action_type(&self) -> &'static str {
        match self {
            Self::CreateEncounter(_) => "create_encounter",
            Self::CreateNoteDraft(_) => "create_note_draft",
            Self::SuggestBilling(_) => "suggest_billing",
            Self::UpdateMedication(_) => "update_medication",
            Self::CreateAppointment(_) => "create_appointment",
        }
    }

    pub fn patient_id(&self) -> &str {
        match self {
            Self::CreateEncounter(a) => &a.patient_id,
            Self::CreateNoteDraft(a) => &a.patient_id,
            Self::SuggestBilling(a) => &a.patient_id,
            Self::UpdateMedication(a) => &a.patient_id,
            Self::CreateAppointment(a) => &a.patient_id,
        }
    }

    /// Character offsets into the dictation the action rests on.
    pub fn evidence(&self) -> &[Range<usize>] {
        match self {
            Self::CreateEncounter(a) => &a.evidence,
            Self::CreateNoteDraft(a) => &a.evidence,
            Self::SuggestBilling(a) => &a.evidence,
            Self::UpdateMedication(a) => &a.evidence,
            Self::CreateAppointment(a) => &a.evidence,
        }
    }
}

/// What the parser made of a dictation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Interpretation {
    /// One question; nothing is proposed until it is answered.
    NeedsClarification(Clarification),
    /// Every proposed change, grouped by patient in the order: encounter, note draft, billing,
    /// medications, appointments (the order a commit applies them).
    Proposals { actions: Vec<ProposedAction> },
}

/// Reads a dictation. See the module documentation.
pub fn interpret(input: &str, context: &DictationContext) -> Interpretation {
    let doc = Doc::new(input);
    match Reading::read(&doc, context) {
        Ok(actions) => Interpretation::Proposals { actions },
        Err(question) => Interpretation::NeedsClarification(question),
    }
}

/// Token ranges to character offsets, merged and in order.
fn evidence(doc: &Doc, ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    // Whole words only: punctuation at either end is not evidence.
    let is_punct = |i: usize| {
        doc.tokens
            .get(i)
            .is_some_and(|t| t.kind == text::TokenKind::Punct)
    };
    let mut spans: Vec<Range<usize>> = ranges
        .iter()
        .map(|r| {
            let mut r = r.clone();
            while r.start < r.end && is_punct(r.start) {
                r.start += 1;
            }
            while r.end > r.start && is_punct(r.end - 1) {
                r.end -= 1;
            }
            r
        })
        .filter(|r| r.start < r.end)
        .map(|r| doc.span(r))
        .collect();
    spans.sort_by_key(|s| (s.start, s.end));
    let mut merged: Vec<Range<usize>> = Vec::new();
    for s in spans {
        match merged.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => merged.push(s),
        }
    }
    merged
        .into_iter()
        .map(|s| text::char_range(doc.text, s))
        .collect()
}

/// The reading of one dictation, step by step (see [`interpret`]).
struct Reading;

/// An appointment on the calendar: local start, minutes, series, evidence tokens.
type Placed = (DateTime, u32, Option<Recurrence>, Vec<Range<usize>>);

impl Reading {
    fn read(doc: &Doc, context: &DictationContext) -> Result<Vec<ProposedAction>, Clarification> {
        let all = 0..doc.tokens.len();
        let header = doc.header();
        let today = context.now.date();
        let prescriber = is_prescriber(&context.provider.credentials);

        // Durations and appointment phrases first: a time range is the session's, an
        // appointment's length is not.
        let durations = duration::find_durations(doc);
        let ranges: Vec<Range<usize>> = durations
            .iter()
            .filter(|d| d.started_at.is_some())
            .map(|d| d.tokens.clone())
            .collect();
        let mut schedule = schedule::read_schedule(doc, &ranges);
        let mut appointment_durations = Vec::new();
        for appointment in &mut schedule.appointments {
            let phrase_start = appointment
                .evidence()
                .first()
                .map_or(appointment.time_tokens.start, |r| r.start);
            let said = durations.iter().find(|d| {
                d.started_at.is_none()
                    && appointment.sentence.contains(&d.tokens.start)
                    && (d.tokens.start >= phrase_start
                        || doc.has_any(
                            d.tokens.end..d.tokens.end + 1,
                            &[
                                "slot",
                                "slots",
                                "appointment",
                                "appointments",
                                "sessions",
                                "visits",
                            ],
                        ))
            });
            if let Some(d) = said {
                appointment.duration = Some((d.minutes, d.tokens.clone()));
                appointment_durations.push(d.tokens.clone());
            }
        }

        // The session's type.
        let answered_kind = context
            .answer(ClarificationTopic::EncounterType)
            .and_then(|a| a.text.as_deref().or(a.option_id.as_deref()))
            .and_then(EncounterKind::from_answer);
        if answered_kind.is_none()
            && let Some((kinds, spans)) = session::conflicting_kinds(doc, header.clone())
        {
            return Err(Clarification {
                topic: ClarificationTopic::EncounterType,
                question: "The dictation names more than one kind of session. Which was it?"
                    .to_owned(),
                options: kinds
                    .into_iter()
                    .map(|k| ClarificationOption {
                        id: k.code().to_owned(),
                        label: k.code().replace('_', " "),
                    })
                    .collect(),
                evidence: evidence(doc, &spans),
            });
        }
        let (mut kind, kind_tokens) = match answered_kind {
            Some(kind) => (kind, None),
            None => match session::read_kind(doc, header.clone(), all.clone()) {
                Some((kind, tokens)) => (kind, Some(tokens)),
                None => (EncounterKind::IndividualTherapy, None),
            },
        };

        // Who.
        let mentions = patients::find_mentions(doc, &context.patients);
        let subjects = Self::subjects(doc, context, &mentions, kind)?;

        // How long.
        let medication_visit = kind == EncounterKind::MedicationManagement;
        let length = duration::session_length(&durations, &appointment_durations, medication_visit);
        let answered_minutes = context
            .answer(ClarificationTopic::Duration)
            .and_then(|a| a.text.as_deref().or(a.option_id.as_deref()))
            .and_then(duration::minutes_in_answer);
        let (minutes, psychotherapy_minutes, length_tokens) = match (&length, answered_minutes) {
            (Some(l), _) => (l.minutes, l.psychotherapy_minutes, l.evidence.clone()),
            (None, Some(m)) => (m, None, Vec::new()),
            (None, None) => {
                return Err(Clarification {
                    topic: ClarificationTopic::Duration,
                    question: "How many minutes did the session last?".to_owned(),
                    options: Vec::new(),
                    evidence: evidence(doc, std::slice::from_ref(&header)),
                });
            }
        };
        let session_start = length
            .as_ref()
            .and_then(|l| l.started_at)
            .or(schedule.session_start.map(|(t, _)| t));

        // How it was held.
        let (modality, modality_tokens) = session::read_modality(doc, header.clone(), all.clone());
        if kind == EncounterKind::IndividualTherapy && modality != Modality::InPerson {
            kind = EncounterKind::Telehealth;
        }
        let interactive_complexity = session::interactive_complexity(doc);
        let single = subjects.len() == 1;

        // Medication orders (one patient's session only: a group dictation orders nothing).
        let mut orders = Vec::new();
        if let [subject] = subjects.as_slice() {
            let patient = &context.patients[*subject];
            for mut order in medications::read_orders(doc, &patient.medications) {
                if order.name.is_none() {
                    order.name = Some(Self::unnamed_medication(doc, context, patient, &order)?);
                }
                orders.push(order);
            }
        }

        // Appointments, placed on the calendar.
        let mut appointments = Vec::new();
        for phrase in &schedule.appointments {
            appointments.push(Self::place(doc, context, phrase, session_start, minutes)?);
        }

        let date = match session::held_yesterday(
            doc,
            &schedule
                .appointments
                .iter()
                .map(|a| a.sentence.clone())
                .collect::<Vec<_>>(),
        ) {
            Some(_) => today.yesterday().unwrap_or(today),
            None => today,
        };
        let subject_tokens: Vec<Range<usize>> = mentions
            .iter()
            .filter(|m| subjects.contains(&m.patient))
            .map(|m| m.tokens.clone())
            .collect();
        let patient_present = !(kind == EncounterKind::FamilyTherapy
            && session::patient_absent_from_family_session(doc, &subject_tokens));
        let with_medical_services = kind == EncounterKind::Intake
            && prescriber
            && (!orders.is_empty() || session::medical_services(doc).is_some());

        let mut anchors: Vec<Range<usize>> = orders.iter().map(|o| o.tokens.clone()).collect();
        anchors.extend(schedule.appointments.iter().map(|a| a.time_tokens.clone()));
        let clauses = sections::classify(doc, &anchors);

        let mut session_evidence: Vec<Range<usize>> = length_tokens.clone();
        session_evidence.extend(kind_tokens.clone());
        session_evidence.extend(modality_tokens.clone());

        let mut actions = Vec::new();
        for &subject in &subjects {
            let patient = &context.patients[subject];
            let names: Vec<Range<usize>> = mentions
                .iter()
                .filter(|m| m.patient == subject)
                .map(|m| m.tokens.clone())
                .collect();
            // Where the patient is named, and what the session's facts rest on (the first
            // sentence when everything came from the clinician's answers).
            let mut encounter_evidence: Vec<Range<usize>> =
                names.first().cloned().into_iter().collect();
            encounter_evidence.extend(session_evidence.iter().cloned());
            if encounter_evidence.is_empty() {
                encounter_evidence.push(header.clone());
            }
            actions.push(ProposedAction::CreateEncounter(EncounterProposal {
                patient_id: patient.id.clone(),
                encounter_type: kind,
                modality,
                date,
                start_time: session_start.map(clock::TimeOfDay::civil),
                duration_minutes: minutes,
                psychotherapy_minutes,
                interactive_complexity: interactive_complexity.is_some(),
                patient_present,
                evidence: evidence(doc, &encounter_evidence),
            }));

            let kept = Self::clauses_for(&clauses, &mentions, &subjects, subject, single);
            let format = context.provider.note_format;
            let note_tokens: Vec<Range<usize>> = kept.iter().map(|c| c.tokens.clone()).collect();
            actions.push(ProposedAction::CreateNoteDraft(NoteDraftProposal {
                patient_id: patient.id.clone(),
                format: format.code().to_owned(),
                sections: sections::compose(doc, &kept, format),
                evidence: evidence(doc, &note_tokens),
            }));

            let coding = diagnoses::code_session(doc, &patient.diagnoses);
            let facts = SessionFacts {
                encounter_type: kind.for_billing(),
                modality: modality.for_billing(),
                total_minutes: minutes,
                psychotherapy_minutes,
                patient_status: if medication_visit && session::new_patient(doc) {
                    PatientStatus::New
                } else {
                    PatientStatus::Established
                },
                interactive_complexity: interactive_complexity.is_some(),
                patient_present,
                with_medical_services,
            };
            let suggestion = suggest_codes(&facts);
            if !suggestion.lines.is_empty() {
                let mut billing_evidence = encounter_evidence.clone();
                billing_evidence.extend(interactive_complexity.clone());
                billing_evidence.extend(coding.evidence.iter().cloned());
                actions.push(ProposedAction::SuggestBilling(BillingProposal {
                    patient_id: patient.id.clone(),
                    lines: suggestion
                        .lines
                        .into_iter()
                        .map(|l| BillingLine {
                            cpt: l.cpt_code.to_owned(),
                            units: l.units,
                            modifiers: l.modifiers.into_iter().map(str::to_owned).collect(),
                            why: l.why,
                        })
                        .collect(),
                    icd10: coding.codes,
                    place_of_service: suggestion.place_of_service.code.to_owned(),
                    not_billed: suggestion.not_billed,
                    evidence: evidence(doc, &billing_evidence),
                }));
            }

            for order in &orders {
                actions.push(ProposedAction::UpdateMedication(MedicationProposal {
                    patient_id: patient.id.clone(),
                    change: order.change,
                    name: order.name.clone().unwrap_or_default(),
                    dose: order.dose.clone(),
                    frequency: order.frequency.clone(),
                    previous_dose: order.previous_dose.clone(),
                    evidence: evidence(doc, std::slice::from_ref(&order.tokens)),
                }));
            }

            for (start, duration_minutes, recurrence, tokens) in &appointments {
                // Already booked: nothing to propose.
                if patient
                    .upcoming_appointments
                    .iter()
                    .any(|booked| booked.start == *start)
                {
                    continue;
                }
                actions.push(ProposedAction::CreateAppointment(AppointmentProposal {
                    patient_id: patient.id.clone(),
                    start: *start,
                    starts_at: jiff::tz::TimeZone::get(&context.time_zone)
                        .ok()
                        .and_then(|tz| tz.to_zoned_datetime(*start).ok())
                        .map(|z| z.timestamp()),
                    duration_minutes: *duration_minutes,
                    recurrence: recurrence.clone(),
                    evidence: evidence(doc, tokens),
                }));
            }
        }
        Ok(actions)
    }

    /// The patients the session is about, or the question to ask.
    fn subjects(
        doc: &Doc,
        context: &DictationContext,
        mentions: &[patients::Mention],
        kind: EncounterKind,
    ) -> Result<Vec<usize>, Clarification> {
        if let Some(answer) = context.answer(ClarificationTopic::Patient)
            && let Some(chosen) = answer
                .option_id
                .as_deref()
                .and_then(|id| context.patients.iter().position(|p| p.id == id))
        {
            return Ok(vec![chosen]);
        }
        let resolution = if kind == EncounterKind::GroupTherapy {
            match patients::resolve_group(doc, mentions) {
                Ok(attending) => return Ok(attending),
                Err(resolution) => resolution,
            }
        } else if kind == EncounterKind::FamilyTherapy {
            match patients::resolve_family(mentions, context.patients.len()) {
                patients::Resolution::One(p) => return Ok(vec![p]),
                other => other,
            }
        } else {
            match patients::resolve_single(mentions, context.patients.len()) {
                patients::Resolution::One(p) => return Ok(vec![p]),
                other => other,
            }
        };
        if mentions.is_empty()
            && let Some(chart) = context
                .chart_patient
                .as_deref()
                .and_then(|id| context.patients.iter().position(|p| p.id == id))
        {
            return Ok(vec![chart]);
        }
        let (candidates, question) = match resolution {
            patients::Resolution::Ambiguous(candidates) => {
                let said: Vec<&str> = mentions
                    .iter()
                    .filter(|m| candidates.contains(&m.patient))
                    .map(|m| doc.slice(m.tokens.clone()))
                    .collect();
                let said = said.first().copied().unwrap_or("the name");
                let family = mentions
                    .iter()
                    .any(|m| patients::is_family_reference(doc, m));
                let what = if family { "family reference" } else { "name" };
                (
                    candidates,
                    format!("The {what} \"{said}\" fits more than one patient. Which patient is this about?"),
                )
            }
            _ => (
                (0..context.patients.len()).collect(),
                "No patient of the practice matches the names in the dictation. Which patient is this about?"
                    .to_owned(),
            ),
        };
        let spans: Vec<Range<usize>> = if mentions.is_empty() {
            vec![doc.header()]
        } else {
            mentions.iter().map(|m| m.tokens.clone()).collect()
        };
        Err(Clarification {
            topic: ClarificationTopic::Patient,
            question,
            options: candidates
                .into_iter()
                .filter_map(|p| context.patients.get(p))
                .map(|p| ClarificationOption {
                    id: p.id.clone(),
                    label: p.label(),
                })
                .collect(),
            evidence: evidence(doc, &spans),
        })
    }

    /// The medication a dose change without a name is about.
    fn unnamed_medication(
        doc: &Doc,
        context: &DictationContext,
        patient: &CandidatePatient,
        order: &medications::MedicationOrder,
    ) -> Result<String, Clarification> {
        if let [only] = patient.medications.as_slice() {
            return Ok(only.name.clone());
        }
        if let Some(answer) = context.answer(ClarificationTopic::Medication) {
            let named = answer
                .option_id
                .as_deref()
                .and_then(|id| patient.medications.iter().find(|m| m.name == id))
                .map(|m| m.name.clone())
                .or_else(|| {
                    answer
                        .text
                        .as_deref()
                        .and_then(|t| medications::medication_in_answer(t, &patient.medications))
                });
            if let Some(name) = named {
                return Ok(name);
            }
        }
        let dose = order.dose.as_deref().unwrap_or("the new dose");
        Err(Clarification {
            topic: ClarificationTopic::Medication,
            question: format!("Which medication changes to {dose}?"),
            options: patient
                .medications
                .iter()
                .map(|m| ClarificationOption {
                    id: m.name.clone(),
                    label: [
                        Some(m.name.as_str()),
                        m.dose.as_deref(),
                        m.frequency.as_deref(),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                })
                .collect(),
            evidence: evidence(doc, std::slice::from_ref(&order.tokens)),
        })
    }

    /// An appointment phrase on the calendar: (local start, minutes, series, evidence tokens).
    fn place(
        doc: &Doc,
        context: &DictationContext,
        phrase: &schedule::AppointmentPhrase,
        session_start: Option<clock::TimeOfDay>,
        session_minutes: u32,
    ) -> Result<Placed, Clarification> {
        let today = context.now.date();
        let mut day = phrase.day.clone();
        let mut time = match phrase.time {
            TimeSpec::Clock(t) => Some(t),
            TimeSpec::SameTime => session_start,
        };
        let minutes = phrase
            .duration
            .as_ref()
            .map_or(session_minutes, |(m, _)| *m);
        let recurrence = phrase.recurrence.as_ref().map(|r| Recurrence {
            freq: r.freq.to_owned(),
            interval: r.interval,
            count: r.count,
        });
        let spans = phrase.evidence();
        // The answer is for the phrase that could not be placed on its own.
        let unresolved = time.is_none() || !matches!(day.resolve(today), Ok(Some(_)));
        if unresolved && let Some(answer) = context.answer(ClarificationTopic::DateTime) {
            // An offered option is the start itself.
            if let Some(start) = answer
                .option_id
                .as_deref()
                .and_then(|id| id.parse::<DateTime>().ok())
            {
                return Ok((start, minutes, recurrence, spans));
            }
            if let Some(words) = answer.text.as_deref().or(answer.option_id.as_deref()) {
                let (answered_day, answered_time) = schedule::day_and_time_in_answer(words);
                if !answered_day.is_empty() {
                    day = day.answered_by(&answered_day);
                }
                time = answered_time.or(time);
            }
        }
        let said = doc.slice(phrase.sentence.clone()).trim().to_owned();
        let ask = |question: String, options: Vec<ClarificationOption>| Clarification {
            topic: ClarificationTopic::DateTime,
            question,
            options,
            evidence: evidence(doc, &spans),
        };
        let date = match day.resolve(today) {
            Ok(Some(date)) => date,
            Ok(None) => {
                return Err(ask(
                    format!("On which day is the appointment \"{said}\"?"),
                    Vec::new(),
                ));
            }
            Err(()) => {
                // Offer each day said ("Thursday or Friday"), placed on the calendar.
                let options = day
                    .weekdays
                    .iter()
                    .filter_map(|w| {
                        let one = schedule::DayExpr {
                            weekdays: vec![*w],
                            ..day.clone()
                        };
                        let start = one
                            .resolve(today)
                            .ok()
                            .flatten()?
                            .to_datetime(time?.civil());
                        Some(ClarificationOption {
                            id: start.strftime("%Y-%m-%dT%H:%M").to_string(),
                            label: start.strftime("%A, %B %-d at %-I:%M %p").to_string(),
                        })
                    })
                    .collect();
                return Err(ask(format!("Which day is meant in \"{said}\"?"), options));
            }
        };
        let Some(time) = time else {
            return Err(ask(
                "At what time is the appointment? The dictation says \"same time\" but not when the session started."
                    .to_owned(),
                Vec::new(),
            ));
        };
        let start = date.to_datetime(time.civil());
        Ok((start, minutes, recurrence, spans))
    }

    /// The clauses that belong in one patient's note.
    fn clauses_for<'c>(
        clauses: &'c [sections::Clause],
        mentions: &[patients::Mention],
        subjects: &[usize],
        subject: usize,
        single: bool,
    ) -> Vec<&'c sections::Clause> {
        if single {
            return clauses.iter().collect();
        }
        // Group: a clause naming one member (and the clauses after it in its sentence, and
        // sentences that go on with "he"/"she") belongs to that member.
        let mut kept = Vec::new();
        let mut owner: Option<usize> = None;
        let mut owner_sentence = usize::MAX;
        for clause in clauses {
            let named: Vec<usize> = {
                let mut named: Vec<usize> = mentions
                    .iter()
                    .filter(|m| clause.tokens.contains(&m.tokens.start))
                    .map(|m| m.patient)
                    .collect();
                named.sort_unstable();
                named.dedup();
                named
            };
            let belongs = match named.as_slice() {
                [] => {
                    // A new sentence goes on about the same member only if it starts with a
                    // pronoun ("Ahmed shared a memory. He was tearful.").
                    if clause.sentence != owner_sentence {
                        let pronoun = clauses
                            .iter()
                            .find(|c| c.sentence == clause.sentence)
                            .is_some_and(|first| first.tokens == clause.tokens)
                            && clause.starts_with_pronoun;
                        if pronoun && owner_sentence.checked_add(1) == Some(clause.sentence) {
                            owner_sentence = clause.sentence;
                        } else {
                            owner = None;
                        }
                    }
                    owner.is_none_or(|o| o == subject)
                }
                [one] if subjects.contains(one) => {
                    owner = Some(*one);
                    owner_sentence = clause.sentence;
                    *one == subject
                }
                _ => {
                    owner = None;
                    false
                }
            };
            if belongs {
                kept.push(clause);
            }
        }
        kept
    }
}
