//! What kind of session was held, how, and when.
//!
//! The first sentence is where clinicians name the session ("Crisis session with ...", "Med
//! check for ...", "Family session at 5:30 with ..."), so it is read first and wins; the rest of
//! the dictation is searched only for unmistakable phrases ("family therapy"), because later
//! sentences mention groups, families and crises that are not the session ("rejoin the church
//! group", "mobile crisis follow-up").

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::text::Doc;

/// The session's type (the database's `encounter_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncounterKind {
    IndividualTherapy,
    GroupTherapy,
    FamilyTherapy,
    Intake,
    Crisis,
    /// Individual psychotherapy by video or phone.
    Telehealth,
    MedicationManagement,
}

impl EncounterKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::IndividualTherapy => "individual_therapy",
            Self::GroupTherapy => "group_therapy",
            Self::FamilyTherapy => "family_therapy",
            Self::Intake => "intake",
            Self::Crisis => "crisis",
            Self::Telehealth => "telehealth",
            Self::MedicationManagement => "medication_management",
        }
    }

    pub fn for_billing(self) -> indra_rules::billing::code_suggestion::EncounterType {
        use indra_rules::billing::code_suggestion::EncounterType as E;
        match self {
            Self::IndividualTherapy => E::IndividualTherapy,
            Self::GroupTherapy => E::GroupTherapy,
            Self::FamilyTherapy => E::FamilyTherapy,
            Self::Intake => E::Intake,
            Self::Crisis => E::Crisis,
            Self::Telehealth => E::Telehealth,
            Self::MedicationManagement => E::MedicationManagement,
        }
    }

    /// Parses a clinician's answer to an `encounter_type` question ("individual", "family").
    pub(crate) fn from_answer(answer: &str) -> Option<Self> {
        const ALL: [EncounterKind; 7] = [
            EncounterKind::IndividualTherapy,
            EncounterKind::GroupTherapy,
            EncounterKind::FamilyTherapy,
            EncounterKind::Intake,
            EncounterKind::Crisis,
            EncounterKind::Telehealth,
            EncounterKind::MedicationManagement,
        ];
        if let Some(kind) = ALL.into_iter().find(|k| k.code() == answer.trim()) {
            return Some(kind);
        }
        let doc = Doc::new(answer);
        let all = 0..doc.tokens.len();
        read_kind(&doc, all.clone(), all).map(|(k, _)| k)
    }
}

/// How the session was held (the database's `session_modality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    InPerson,
    Video,
    AudioOnly,
}

impl Modality {
    pub fn for_billing(self) -> indra_rules::billing::code_suggestion::Modality {
        use indra_rules::billing::code_suggestion::Modality as M;
        match self {
            Self::InPerson => M::InPerson,
            Self::Video => M::Video,
            Self::AudioOnly => M::AudioOnly,
        }
    }
}

const CRISIS: &[&str] = &["crisis", "emergency"];
const CRISIS_ANYWHERE: &[&str] = &[
    "crisis session",
    "crisis intervention",
    "crisis visit",
    "crisis appointment",
    "emergency session",
];
const INTAKE: &[&str] = &[
    "intake",
    "initial evaluation",
    "initial assessment",
    "initial psychiatric",
    "psychiatric evaluation",
    "diagnostic evaluation",
    "diagnostic assessment",
    "new client",
    "new patient evaluation",
];
const GROUP: &[&str] = &["group"];
const GROUP_ANYWHERE: &[&str] = &[
    "group therapy",
    "group session",
    "group psychotherapy",
    "skills group",
    "process group",
];
const MEDICATION: &[&str] = &[
    "med check",
    "med management",
    "meds check",
    "medication management",
    "medication check",
    "med visit",
    "medication visit",
    "medication follow-up",
    "medication follow up",
    "med follow-up",
    "med follow up",
    "medication review",
    "pharmacologic management",
    "psychopharmacology",
    "e/m visit",
];
const INDIVIDUAL: &[&str] = &[
    "individual",
    "psychotherapy session",
    "therapy session",
    "play therapy",
    "one-on-one",
];
const FAMILY: &[&str] = &[
    "family session",
    "family therapy",
    "family psychotherapy",
    "family meeting",
    "couples",
    "couple's",
    "couple",
    "marital",
    "conjoint",
    "parents",
    "mother and father",
    "mom and dad",
    "both parents",
    "parent session",
];
const FAMILY_ANYWHERE: &[&str] = &[
    "family session",
    "family therapy",
    "family psychotherapy",
    "couples session",
    "couples therapy",
];

/// The session's type from the header (`header`), falling back to unmistakable phrases anywhere
/// (`all`), with the tokens it rests on.
pub(crate) fn read_kind(
    doc: &Doc,
    header: Range<usize>,
    all: Range<usize>,
) -> Option<(EncounterKind, Range<usize>)> {
    let header_rules: [(&[&str], EncounterKind); 6] = [
        (CRISIS, EncounterKind::Crisis),
        (INTAKE, EncounterKind::Intake),
        (GROUP, EncounterKind::GroupTherapy),
        (MEDICATION, EncounterKind::MedicationManagement),
        (INDIVIDUAL, EncounterKind::IndividualTherapy),
        (FAMILY, EncounterKind::FamilyTherapy),
    ];
    for (phrases, kind) in header_rules {
        if let Some(t) = doc.find_any(header.clone(), phrases) {
            return Some((kind, t));
        }
    }
    let anywhere: [(&[&str], EncounterKind); 5] = [
        (CRISIS_ANYWHERE, EncounterKind::Crisis),
        (&["intake"], EncounterKind::Intake),
        (GROUP_ANYWHERE, EncounterKind::GroupTherapy),
        (MEDICATION, EncounterKind::MedicationManagement),
        (FAMILY_ANYWHERE, EncounterKind::FamilyTherapy),
    ];
    for (phrases, kind) in anywhere {
        if let Some(t) = doc.find_any(all.clone(), phrases) {
            return Some((kind, t));
        }
    }
    None
}

/// Two session types named in the header that cannot both be billed ("individual and family
/// session"): which one it was is the clinician's call. Crisis, intake and medication visits
/// absorb the rest ("crisis session with her parents", "med check plus therapy") and do not
/// conflict.
pub(crate) fn conflicting_kinds(
    doc: &Doc,
    header: Range<usize>,
) -> Option<(Vec<EncounterKind>, Vec<Range<usize>>)> {
    if doc.has_any(header.clone(), CRISIS)
        || doc.has_any(header.clone(), INTAKE)
        || doc.has_any(header.clone(), MEDICATION)
    {
        return None;
    }
    let mut kinds = Vec::new();
    let mut spans = Vec::new();
    for (phrases, kind) in [
        (INDIVIDUAL, EncounterKind::IndividualTherapy),
        (
            &["family session", "family therapy", "couples", "conjoint"][..],
            EncounterKind::FamilyTherapy,
        ),
        (GROUP, EncounterKind::GroupTherapy),
    ] {
        if let Some(t) = doc.find_any(header.clone(), phrases) {
            kinds.push(kind);
            spans.push(t);
        }
    }
    (kinds.len() > 1).then_some((kinds, spans))
}

const AUDIO: &[&str] = &[
    "phone",
    "telephone",
    "audio only",
    "audio-only",
    "by phone",
    "over the phone",
    "telephonic",
];
const AUDIO_ANYWHERE: &[&str] = &[
    "audio only",
    "audio-only",
    "phone session",
    "telephone session",
    "by phone",
    "over the phone",
];
const VIDEO: &[&str] = &[
    "video",
    "zoom",
    "telehealth",
    "telemedicine",
    "virtual",
    "virtually",
    "doxy",
    "facetime",
    "webex",
    "teams",
    "remote",
    "remotely",
];
const VIDEO_ANYWHERE: &[&str] = &[
    "by video",
    "via video",
    "over video",
    "over zoom",
    "via zoom",
    "video session today",
    "telehealth session",
    "telehealth visit",
];

/// Video or audio-only from the header (or a plain phrase anywhere). Audio wins: "phone
/// session, her video wasn't working" was held by phone.
pub(crate) fn read_modality(
    doc: &Doc,
    header: Range<usize>,
    all: Range<usize>,
) -> (Modality, Option<Range<usize>>) {
    if let Some(t) = doc
        .find_any(header.clone(), AUDIO)
        .or_else(|| doc.find_any(all.clone(), AUDIO_ANYWHERE))
    {
        return (Modality::AudioOnly, Some(t));
    }
    if let Some(t) = doc
        .find_any(header, VIDEO)
        .or_else(|| doc.find_any(all, VIDEO_ANYWHERE))
    {
        return (Modality::Video, Some(t));
    }
    (Modality::InPerson, None)
}

const CAREGIVERS: &[&str] = &[
    "mom",
    "mother",
    "dad",
    "father",
    "parent",
    "parents",
    "caregiver",
    "caregivers",
    "guardian",
    "grandmother",
    "grandfather",
    "grandma",
    "grandpa",
    "stepmother",
    "stepfather",
    "stepmom",
    "stepdad",
    "foster",
];
const DISRUPTING: &[&str] = &[
    "interrupted",
    "interrupting",
    "interrupts",
    "derailed",
    "derailing",
    "disrupted",
    "disrupting",
    "disruptive",
];
const CONFLICT: &[&str] = &[
    "argued", "arguing", "argue", "argument", "yelled", "yelling", "shouting", "shouted", "fought",
    "fighting",
];
const IN_SESSION: &[&str] = &[
    "in session",
    "in the session",
    "during session",
    "during the session",
    "in the room",
    "in the office",
];
const MANDATED_REPORT: &[&str] = &[
    "mandated report",
    "mandatory report",
    "cps report",
    "report to cps",
    "reported to cps",
    "child protective services",
    "adult protective services",
    "aps report",
    "report to aps",
    "filed a report",
];

/// Interactive complexity (90785): caregivers whose conflict or interruptions disrupt the
/// session, or a sentinel event with a mandated report. An interpreter alone is not.
pub(crate) fn interactive_complexity(doc: &Doc) -> Option<Range<usize>> {
    for sentence in &doc.sentences {
        if let Some(t) = doc.find_any(sentence.clone(), MANDATED_REPORT) {
            return Some(t);
        }
        if !doc.has_any(sentence.clone(), CAREGIVERS) {
            continue;
        }
        let disrupting = doc.has_any(sentence.clone(), DISRUPTING);
        let conflict_in_session =
            doc.has_any(sentence.clone(), CONFLICT) && doc.has_any(sentence.clone(), IN_SESSION);
        if disrupting || conflict_in_session {
            return Some(sentence.clone());
        }
    }
    None
}

/// Family therapy without the patient: "met with Lily's parents without Lily", "parents only".
pub(crate) fn patient_absent_from_family_session(
    doc: &Doc,
    subject_tokens: &[Range<usize>],
) -> bool {
    if doc.has_any(
        0..doc.tokens.len(),
        &[
            "parents only",
            "without the patient",
            "without the child",
            "patient not present",
            "parent session",
            "collateral session",
        ],
    ) {
        return true;
    }
    doc.find_all(0..doc.tokens.len(), &["without"])
        .iter()
        .any(|w| {
            subject_tokens
                .iter()
                .any(|m| m.start >= w.end && m.start <= w.end + 1)
        })
}

/// An evaluation with medical services: labs, vitals, an exam, or a prescription.
pub(crate) fn medical_services(doc: &Doc) -> Option<Range<usize>> {
    doc.find_any(
        0..doc.tokens.len(),
        &[
            "labs",
            "lab work",
            "vitals",
            "vital signs",
            "tsh",
            "bmi",
            "physical exam",
            "exam",
            "blood pressure",
            "ekg",
            "ecg",
            "medical history",
            "medical workup",
        ],
    )
}

/// A new patient for E/M purposes.
pub(crate) fn new_patient(doc: &Doc) -> bool {
    doc.has_any(
        0..doc.tokens.len(),
        &["new patient", "new to the practice", "first visit"],
    )
}

/// The session was yesterday ("yesterday's session", "I saw her yesterday").
pub(crate) fn held_yesterday(
    doc: &Doc,
    appointment_sentences: &[Range<usize>],
) -> Option<Range<usize>> {
    for (n, sentence) in doc.sentences.iter().enumerate() {
        if appointment_sentences.contains(sentence) {
            continue;
        }
        if let Some(t) = doc.find_any(sentence.clone(), &["yesterday"]) {
            let about_session = n == 0
                || doc.has_any(
                    sentence.clone(),
                    &["session", "saw", "seen", "met", "visit", "late note"],
                );
            if about_session {
                return Some(t);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<EncounterKind> {
        let doc = Doc::new(text);
        read_kind(&doc, doc.header(), 0..doc.tokens.len()).map(|(k, _)| k)
    }

    #[test]
    fn the_header_names_the_session() {
        assert_eq!(
            kind("Crisis session with Jo, 50 minutes."),
            Some(EncounterKind::Crisis)
        );
        assert_eq!(
            kind("Intake with Ty, 75 minutes."),
            Some(EncounterKind::Intake)
        );
        assert_eq!(
            kind("DBT skills group tonight."),
            Some(EncounterKind::GroupTherapy)
        );
        assert_eq!(
            kind("Med check for Gail."),
            Some(EncounterKind::MedicationManagement)
        );
        assert_eq!(
            kind("Owen, individual play therapy, mom in the room."),
            Some(EncounterKind::IndividualTherapy)
        );
        assert_eq!(
            kind("Met with Ava's mother and father without Ava."),
            Some(EncounterKind::FamilyTherapy)
        );
        assert_eq!(
            kind("Couples session with Derek."),
            Some(EncounterKind::FamilyTherapy)
        );
        assert_eq!(kind("Saw Bea today."), None);
    }

    #[test]
    fn individual_and_family_in_one_header_conflict() {
        let doc = Doc::new("Individual and family session with Jo, 50 minutes.");
        let (kinds, _) = conflicting_kinds(&doc, doc.header()).unwrap();
        assert_eq!(
            kinds,
            [
                EncounterKind::IndividualTherapy,
                EncounterKind::FamilyTherapy
            ]
        );
        let doc = Doc::new("Crisis session with Jo and her parents, individual time after.");
        assert!(conflicting_kinds(&doc, doc.header()).is_none());
        let doc = Doc::new("Individual session with Jo, 50 minutes.");
        assert!(conflicting_kinds(&doc, doc.header()).is_none());
        assert_eq!(
            EncounterKind::from_answer("family_therapy"),
            Some(EncounterKind::FamilyTherapy)
        );
        assert_eq!(EncounterKind::from_answer("the family one"), None);
        assert_eq!(
            EncounterKind::from_answer("family therapy"),
            Some(EncounterKind::FamilyTherapy)
        );
    }

    #[test]
    fn later_sentences_count_only_when_unmistakable() {
        assert_eq!(
            kind("Saw Bea today. She will rejoin the church group."),
            None
        );
        assert_eq!(
            kind("Met with Lily's parents today. 45 minutes of family therapy."),
            Some(EncounterKind::FamilyTherapy)
        );
    }

    #[test]
    fn modality() {
        let m = |t: &str| {
            let doc = Doc::new(t);
            read_modality(&doc, doc.header(), 0..doc.tokens.len()).0
        };
        assert_eq!(m("Telehealth session over Zoom with Cam."), Modality::Video);
        assert_eq!(
            m("Phone session with W, audio only because her video wasn't working."),
            Modality::AudioOnly
        );
        assert_eq!(
            m("Saw Ann. Next video session Friday at 3."),
            Modality::InPerson
        );
    }

    #[test]
    fn interactive_complexity_needs_disruption_or_a_mandated_report() {
        let ic = |t: &str| interactive_complexity(&Doc::new(t)).is_some();
        assert!(ic("Mom repeatedly interrupted to argue about school."));
        assert!(ic("His parents argued loudly in the session."));
        assert!(ic("I made a mandated report to child protective services."));
        assert!(!ic("Session held with a Vietnamese interpreter."));
        assert!(!ic(
            "She talked about the fight with her sister over their mom's care."
        ));
    }

    #[test]
    fn absent_patient_in_family_sessions() {
        let doc = Doc::new("Met with Lily Chen's parents without Lily today.");
        let lily = doc.find_all(0..doc.tokens.len(), &["lily"]);
        assert!(patient_absent_from_family_session(&doc, &lily));
        let doc = Doc::new("Family session with Ethan and both parents.");
        let ethan = doc.find_all(0..doc.tokens.len(), &["ethan"]);
        assert!(!patient_absent_from_family_session(&doc, &ethan));
    }
}
