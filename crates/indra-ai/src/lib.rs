//! Indra's assistant, the pure half: the embedded `rules` model and the evaluation comparison.
//!
//! # The `rules` model
//!
//! [`dictation::interpret`] reads a clinician's dictation and returns an
//! [`Interpretation`](dictation::Interpretation):
//!
//! ```text
//! interpret(input: &str, context: &DictationContext) -> Interpretation
//!
//! DictationContext { provider: Provider { first_name, last_name, credentials, note_format },
//!                    time_zone: "America/Chicago", now: civil DateTime (local),
//!                    patients: [CandidatePatient { id, first_name, last_name, preferred_name,
//!                               date_of_birth, diagnoses [{code, primary}],
//!                               medications [{name, dose, frequency}], upcoming_appointments }],
//!                    answers: [ClarificationAnswer { topic, option_id, text }] }
//!
//! Interpretation::NeedsClarification(Clarification { topic, question, options, evidence })
//! Interpretation::Proposals { actions: [ProposedAction] }
//!   ProposedAction::CreateEncounter   { patient_id, encounter_type, modality, date, start_time,
//!                                       duration_minutes, psychotherapy_minutes,
//!                                       interactive_complexity, patient_present, evidence }
//!   ProposedAction::CreateNoteDraft   { patient_id, format, sections {key: text}, evidence }
//!   ProposedAction::SuggestBilling    { patient_id, lines [{cpt, units, modifiers, why}], icd10,
//!                                       place_of_service, not_billed, evidence }
//!   ProposedAction::UpdateMedication  { patient_id, change, name, dose, frequency,
//!                                       previous_dose, evidence }
//!   ProposedAction::CreateAppointment { patient_id, start (local), starts_at (instant),
//!                                       duration_minutes, recurrence {freq, interval, count},
//!                                       evidence }
//! ```
//!
//! - **Evidence** is a list of **character** offsets (Unicode scalar values, not bytes) into the
//!   dictation, half-open, merged and sorted: what the review page highlights.
//! - **Deterministic**: the same input and context give the same output; no clock, no I/O
//!   (except the system's tz database, read once to give appointments their instant).
//! - **One question at a time**, in the order encounter type (only when the first sentence names
//!   two kinds of session), patient, duration, medication, date/time. Nothing is proposed while
//!   a question is open. A resumed run calls `interpret` again with every answer so far in
//!   `context.answers`; an answer is the chosen option's id (patient, medication, encounter type,
//!   a dated alternative) or the clinician's words ("50 minutes", "Thursday", "sertraline").
//! - **Billing comes from the billing rules**: the parser decides the session's type, minutes,
//!   modality and interactive complexity, and `indra_rules::billing::code_suggestion` turns them
//!   into CPT lines; ICD-10 codes are the patient's primary diagnosis plus what the dictation
//!   explicitly adds or replaces (the commit validates them against the reference table).
//! - Every proposal serializes (serde, tagged by `type`) for `ai_proposed_actions.payload` and
//!   deserializes back for review, commit and evaluation.
//!
//! # Evaluation
//!
//! [`eval`] holds the case format of `ai-eval/FORMAT.md` as serde types and the comparison of
//! what a run proposed with a case's expectations, returning per case pass/fail with reasons and
//! per action type the true and false positives and misses behind precision and recall. Running
//! a case (a scratch organization, a run, answering its question) is the run loop's part.

pub mod dictation;
pub mod eval;
pub mod model;
pub mod runs;
pub mod worker;
