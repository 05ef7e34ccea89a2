//! Code suggestion: from what happened in a session (its type, its minutes, how it was held) to
//! the CPT lines a biller would put on the claim, each with the reason in plain words.
//!
//! The time ranges below mirror `cpt_codes.time_range_minutes` in migration 0010, as half-open
//! ranges like the database's `int4range` (`[16,38)` is 16 to 37 minutes). The database is the
//! source the service checks a suggestion against (`time_range_minutes @> minutes`); the copy
//! here keeps the rule pure and testable, and [`CPT_TIME_RANGES`] lists every range so a database
//! test can cross-check the two.
//!
//! What the suggestion decides, and why:
//!
//! - **Psychotherapy by minutes**: 16-37 -> 90832, 38-52 -> 90834, 53 and more -> 90837. Under 16
//!   minutes no psychotherapy code can be billed, and the suggestion says so.
//! - **Crisis**: 90839 covers the first 30-74 minutes; each further 30 minutes beyond 74 adds one
//!   unit of 90840 (75-104 -> 1, 105-134 -> 2). Under 30 minutes the session is billed as
//!   psychotherapy by time instead.
//! - **Medication management** is an E/M visit by time (new patient 99202-99205, established
//!   99212-99215) with the psychotherapy add-on (90833/90836/90838) for separately stated
//!   psychotherapy minutes. Time spent on psychotherapy does not count toward the E/M time (the
//!   CPT rule for E/M with psychotherapy), so the visit is coded on the total minus the
//!   psychotherapy minutes.
//! - **Family psychotherapy** (26 minutes and more): 90847 with the patient present, 90846
//!   without. **Group**: 90853. **Intake**: 90791, or 90792 for a prescriber's evaluation with
//!   medical services.
//! - **Interactive complexity** (90785) is added beside the codes it may accompany (migration
//!   0010's `add_on_to`): evaluations, psychotherapy and its add-ons, group; never crisis.
//! - **How the session was held**: video -> modifier 95, audio-only -> modifier 93, both at place
//!   of service 10 (telehealth in the patient's home); in person -> place of service 11 (office).

use std::fmt;

/// The kind of session (the database's `encounter_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncounterType {
    IndividualTherapy,
    GroupTherapy,
    FamilyTherapy,
    Intake,
    Crisis,
    /// Individual psychotherapy held remotely; coded by minutes like individual therapy.
    Telehealth,
    MedicationManagement,
}

/// How the session was held (the database's `session_modality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    InPerson,
    Video,
    AudioOnly,
}

/// Whether the patient is new to the practice or established: E/M codes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientStatus {
    New,
    Established,
}

impl EncounterType {
    /// From the database's `encounter_type` value.
    pub fn from_db(value: &str) -> Option<Self> {
        Some(match value {
            "individual_therapy" => Self::IndividualTherapy,
            "group_therapy" => Self::GroupTherapy,
            "family_therapy" => Self::FamilyTherapy,
            "intake" => Self::Intake,
            "crisis" => Self::Crisis,
            "telehealth" => Self::Telehealth,
            "medication_management" => Self::MedicationManagement,
            _ => return None,
        })
    }
}

impl Modality {
    /// From the database's `session_modality` value.
    pub fn from_db(value: &str) -> Option<Self> {
        Some(match value {
            "in_person" => Self::InPerson,
            "video" => Self::Video,
            "audio_only" => Self::AudioOnly,
            _ => return None,
        })
    }
}

/// Whether a clinician's credentials are a prescriber's: physicians (MD, DO), nurse
/// practitioners and other advanced practice nurses (NP, PMHNP, FNP, APRN, ARNP, CNS, DNP) and
/// physician assistants (PA). Their intake is a psychiatric evaluation with medical services
/// (90792) and their visits are E/M. The schema has no prescriber flag, so claim building, the
/// suggestion endpoint and the assistant all decide it here, the same way.
pub fn is_prescriber(credentials: &str) -> bool {
    credentials
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|part| {
            matches!(
                part.to_ascii_uppercase().as_str(),
                "MD" | "DO" | "NP" | "PMHNP" | "APRN" | "FNP" | "PA" | "CNS" | "ARNP" | "DNP"
            )
        })
}

/// What the suggestion needs to know about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub encounter_type: EncounterType,
    pub modality: Modality,
    /// The session's length in whole minutes (the encounter's `duration_minutes`).
    pub total_minutes: u32,
    /// For E/M visits: the psychotherapy minutes, stated separately in the note.
    pub psychotherapy_minutes: Option<u32>,
    /// For E/M visits: new or established patient.
    pub patient_status: PatientStatus,
    /// Interactive complexity is documented (the encounter's `interactive_complexity`).
    pub interactive_complexity: bool,
    /// For family psychotherapy: the patient took part.
    pub patient_present: bool,
    /// For an intake: a prescriber's evaluation with medical services (90792 rather than 90791).
    pub with_medical_services: bool,
}

/// A minute range a time-based code covers: `from` up to but not including `until` (`None`: no
/// upper bound), as the database's `int4range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub code: &'static str,
    pub from: u32,
    pub until: Option<u32>,
}

impl TimeRange {
    const fn new(code: &'static str, from: u32, until: Option<u32>) -> Self {
        Self { code, from, until }
    }

    pub fn contains(&self, minutes: u32) -> bool {
        minutes >= self.from && self.until.is_none_or(|until| minutes < until)
    }
}

impl fmt::Display for TimeRange {
    /// In a clinician's words: "38-52 minutes", "53 minutes or more".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.until {
            Some(until) => write!(f, "{}-{} minutes", self.from, until - 1),
            None => write!(f, "{} minutes or more", self.from),
        }
    }
}

const PSYCHOTHERAPY: [TimeRange; 3] = [
    TimeRange::new("90832", 16, Some(38)),
    TimeRange::new("90834", 38, Some(53)),
    TimeRange::new("90837", 53, None),
];
const PSYCHOTHERAPY_ADD_ON: [TimeRange; 3] = [
    TimeRange::new("90833", 16, Some(38)),
    TimeRange::new("90836", 38, Some(53)),
    TimeRange::new("90838", 53, None),
];
const CRISIS_FIRST: TimeRange = TimeRange::new("90839", 30, Some(75));
const FAMILY_WITHOUT_PATIENT: TimeRange = TimeRange::new("90846", 26, None);
const FAMILY_WITH_PATIENT: TimeRange = TimeRange::new("90847", 26, None);
const NEW_PATIENT_VISIT: [TimeRange; 4] = [
    TimeRange::new("99202", 15, Some(30)),
    TimeRange::new("99203", 30, Some(45)),
    TimeRange::new("99204", 45, Some(60)),
    TimeRange::new("99205", 60, None),
];
const ESTABLISHED_PATIENT_VISIT: [TimeRange; 4] = [
    TimeRange::new("99212", 10, Some(20)),
    TimeRange::new("99213", 20, Some(30)),
    TimeRange::new("99214", 30, Some(40)),
    TimeRange::new("99215", 40, None),
];

/// Every time range this module codes by, for a cross-check against `cpt_codes` in the database.
pub const CPT_TIME_RANGES: [TimeRange; 17] = [
    PSYCHOTHERAPY[0],
    PSYCHOTHERAPY[1],
    PSYCHOTHERAPY[2],
    PSYCHOTHERAPY_ADD_ON[0],
    PSYCHOTHERAPY_ADD_ON[1],
    PSYCHOTHERAPY_ADD_ON[2],
    CRISIS_FIRST,
    FAMILY_WITHOUT_PATIENT,
    FAMILY_WITH_PATIENT,
    NEW_PATIENT_VISIT[0],
    NEW_PATIENT_VISIT[1],
    NEW_PATIENT_VISIT[2],
    NEW_PATIENT_VISIT[3],
    ESTABLISHED_PATIENT_VISIT[0],
    ESTABLISHED_PATIENT_VISIT[1],
    ESTABLISHED_PATIENT_VISIT[2],
    ESTABLISHED_PATIENT_VISIT[3],
];

/// Each unit of 90840 covers this many further minutes of crisis time beyond 90839's range.
const CRISIS_ADD_ON_MINUTES: u32 = 30;

/// The codes 90785 may accompany (migration 0010's `add_on_to` for 90785).
const INTERACTIVE_COMPLEXITY_PRIMARIES: [&str; 9] = [
    "90791", "90792", "90832", "90833", "90834", "90836", "90837", "90838", "90853",
];

/// One suggested service line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestedLine {
    pub cpt_code: &'static str,
    pub units: u32,
    pub modifiers: Vec<&'static str>,
    /// Why this code, in plain words ("50 minutes of psychotherapy is within 38-52 minutes: 90834").
    pub why: String,
}

/// The place of service for the claim, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOfService {
    /// The two-digit CMS place-of-service code.
    pub code: &'static str,
    pub why: String,
}

/// What to bill for a session, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub lines: Vec<SuggestedLine>,
    pub place_of_service: PlaceOfService,
    /// What was considered and not suggested, with the reason ("Under 16 minutes of
    /// psychotherapy: no psychotherapy code can be billed").
    pub not_billed: Vec<String>,
}

/// Suggests the CPT lines, modifiers and place of service for one session.
pub fn suggest_codes(facts: &SessionFacts) -> Suggestion {
    let mut lines = Vec::new();
    let mut not_billed = Vec::new();
    let minutes = facts.total_minutes;

    match facts.encounter_type {
        EncounterType::IndividualTherapy | EncounterType::Telehealth => {
            psychotherapy_by_time(minutes, "", &mut lines, &mut not_billed);
        }
        EncounterType::Crisis => crisis(minutes, &mut lines, &mut not_billed),
        EncounterType::Intake => {
            let (code, what) = if facts.with_medical_services {
                (
                    "90792",
                    "a prescriber's psychiatric evaluation with medical services",
                )
            } else {
                ("90791", "a psychiatric diagnostic evaluation")
            };
            lines.push(line(
                code,
                1,
                format!("An intake is {what}: {code}, whatever its length ({minutes} minutes)"),
            ));
        }
        EncounterType::MedicationManagement => {
            medication_management(facts, &mut lines, &mut not_billed);
        }
        EncounterType::FamilyTherapy => {
            let (range, who) = if facts.patient_present {
                (FAMILY_WITH_PATIENT, "with the patient present")
            } else {
                (FAMILY_WITHOUT_PATIENT, "without the patient")
            };
            if range.contains(minutes) {
                lines.push(line(
                    range.code,
                    1,
                    format!(
                        "{minutes} minutes of family psychotherapy {who} is within {range}: {}",
                        range.code
                    ),
                ));
            } else {
                not_billed.push(format!(
                    "Under {} minutes of family psychotherapy ({minutes} minutes): no family \
                     psychotherapy code can be billed",
                    range.from
                ));
            }
        }
        EncounterType::GroupTherapy => lines.push(line(
            "90853",
            1,
            format!(
                "Group psychotherapy is billed once per session, whatever its length \
                 ({minutes} minutes): 90853"
            ),
        )),
    }

    if facts.interactive_complexity {
        interactive_complexity(&mut lines, &mut not_billed);
    }

    let place_of_service = telehealth_modifiers(facts.modality, &mut lines);
    Suggestion {
        lines,
        place_of_service,
        not_billed,
    }
}

fn line(cpt_code: &'static str, units: u32, why: String) -> SuggestedLine {
    SuggestedLine {
        cpt_code,
        units,
        modifiers: Vec::new(),
        why,
    }
}

/// 90832/90834/90837 (or, with `ranges` the add-ons, 90833/90836/90838) by minutes.
fn coded_by_time(ranges: &[TimeRange], minutes: u32) -> Option<TimeRange> {
    ranges.iter().copied().find(|range| range.contains(minutes))
}

fn psychotherapy_by_time(
    minutes: u32,
    lead: &str,
    lines: &mut Vec<SuggestedLine>,
    not_billed: &mut Vec<String>,
) {
    match coded_by_time(&PSYCHOTHERAPY, minutes) {
        Some(range) => lines.push(line(
            range.code,
            1,
            format!(
                "{lead}{minutes} minutes of psychotherapy is within {range}: {}",
                range.code
            ),
        )),
        None => not_billed.push(format!(
            "{lead}Under {} minutes of psychotherapy ({minutes} minutes): no psychotherapy code \
             can be billed",
            PSYCHOTHERAPY[0].from
        )),
    }
}

fn crisis(minutes: u32, lines: &mut Vec<SuggestedLine>, not_billed: &mut Vec<String>) {
    if minutes < CRISIS_FIRST.from {
        let lead = format!(
            "Under {} minutes of crisis time ({minutes} minutes) is billed as psychotherapy by \
             time, not as crisis psychotherapy. ",
            CRISIS_FIRST.from
        );
        psychotherapy_by_time(minutes, &lead, lines, not_billed);
        return;
    }
    lines.push(line(
        CRISIS_FIRST.code,
        1,
        format!("{minutes} minutes of crisis psychotherapy: 90839 covers the first {CRISIS_FIRST}"),
    ));
    // 75-104 minutes: one further unit; 105-134: two; and so on.
    if let Some(last) = CRISIS_FIRST.until.map(|until| until - 1)
        && minutes > last
    {
        let units = (minutes - last - 1) / CRISIS_ADD_ON_MINUTES + 1;
        lines.push(line(
            "90840",
            units,
            format!(
                "{minutes} minutes of crisis psychotherapy is {} minutes beyond {last}: one unit \
                 of 90840 per further {CRISIS_ADD_ON_MINUTES} minutes begun, {units} unit{}",
                minutes - last,
                if units == 1 { "" } else { "s" }
            ),
        ));
    }
}

fn medication_management(
    facts: &SessionFacts,
    lines: &mut Vec<SuggestedLine>,
    not_billed: &mut Vec<String>,
) {
    let total = facts.total_minutes;
    let psychotherapy = facts.psychotherapy_minutes.unwrap_or(0);
    let visit_minutes = total.saturating_sub(psychotherapy);
    let (ranges, patient) = match facts.patient_status {
        PatientStatus::New => (&NEW_PATIENT_VISIT, "new patient"),
        PatientStatus::Established => (&ESTABLISHED_PATIENT_VISIT, "established patient"),
    };
    let counted = if psychotherapy > 0 {
        format!(
            "{visit_minutes} minutes of E/M time ({total} minutes in all, less {psychotherapy} \
             minutes of psychotherapy, which do not count toward the visit)"
        )
    } else {
        format!("{visit_minutes} minutes of E/M time")
    };
    let Some(visit) = coded_by_time(ranges, visit_minutes) else {
        not_billed.push(format!(
            "Under {} minutes of E/M time for a {patient} ({counted}): no office visit code can \
             be billed by time",
            ranges[0].from
        ));
        if psychotherapy > 0 {
            not_billed.push(format!(
                "The psychotherapy add-on ({psychotherapy} minutes) can only be billed beside an \
                 E/M visit, and there is none"
            ));
        }
        return;
    };
    lines.push(line(
        visit.code,
        1,
        format!(
            "{counted} for a {patient} is within {visit}: {}",
            visit.code
        ),
    ));
    if psychotherapy == 0 {
        return;
    }
    match coded_by_time(&PSYCHOTHERAPY_ADD_ON, psychotherapy) {
        Some(add_on) => lines.push(line(
            add_on.code,
            1,
            format!(
                "{psychotherapy} minutes of psychotherapy stated separately beside the E/M visit \
                 is within {add_on}: add-on {}",
                add_on.code
            ),
        )),
        None => not_billed.push(format!(
            "Under {} minutes of psychotherapy beside the E/M visit ({psychotherapy} minutes): \
             no psychotherapy add-on can be billed",
            PSYCHOTHERAPY_ADD_ON[0].from
        )),
    }
}

fn interactive_complexity(lines: &mut Vec<SuggestedLine>, not_billed: &mut Vec<String>) {
    match lines
        .iter()
        .find(|l| INTERACTIVE_COMPLEXITY_PRIMARIES.contains(&l.cpt_code))
    {
        Some(primary) => {
            let why = format!(
                "Interactive complexity is documented beside {}: add-on 90785",
                primary.cpt_code
            );
            lines.push(line("90785", 1, why));
        }
        None if lines.is_empty() => not_billed.push(
            "Interactive complexity is documented, but 90785 is an add-on and there is no \
             primary code to add it to"
                .to_owned(),
        ),
        None => {
            let codes: Vec<&str> = lines.iter().map(|l| l.cpt_code).collect();
            not_billed.push(format!(
                "Interactive complexity is documented, but 90785 cannot be billed with {}",
                codes.join(" and ")
            ));
        }
    }
}

/// Adds the telehealth modifier to every line and returns the place of service.
fn telehealth_modifiers(modality: Modality, lines: &mut [SuggestedLine]) -> PlaceOfService {
    let (modifier, code, why) = match modality {
        Modality::InPerson => (None, "11", "In person at the office: place of service 11"),
        Modality::Video => (
            Some(("95", "a video session")),
            "10",
            "A video session: place of service 10 (telehealth in the patient's home)",
        ),
        Modality::AudioOnly => (
            Some(("93", "an audio-only session")),
            "10",
            "An audio-only session: place of service 10 (telehealth in the patient's home)",
        ),
    };
    if let Some((modifier, what)) = modifier {
        for l in lines.iter_mut() {
            l.modifiers.push(modifier);
            l.why.push_str(&format!("; modifier {modifier} for {what}"));
        }
    }
    PlaceOfService {
        code,
        why: why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(encounter_type: EncounterType, total_minutes: u32) -> SessionFacts {
        SessionFacts {
            encounter_type,
            modality: Modality::InPerson,
            total_minutes,
            psychotherapy_minutes: None,
            patient_status: PatientStatus::Established,
            interactive_complexity: false,
            patient_present: true,
            with_medical_services: false,
        }
    }

    /// The suggested lines as (code, units), for compact assertions.
    fn codes(suggestion: &Suggestion) -> Vec<(&'static str, u32)> {
        suggestion
            .lines
            .iter()
            .map(|l| (l.cpt_code, l.units))
            .collect()
    }

    fn assert_why_mentions(suggestion: &Suggestion, minutes: u32) {
        let needle = format!("{minutes} minutes");
        for l in &suggestion.lines {
            assert!(
                l.why.contains(&needle),
                "{:?} should mention {needle}",
                l.why
            );
        }
        for reason in &suggestion.not_billed {
            assert!(
                reason.contains(&needle),
                "{reason:?} should mention {needle}"
            );
        }
    }

    #[test]
    fn psychotherapy_is_coded_by_minutes_at_every_boundary() {
        for (minutes, expected) in [
            (16, "90832"),
            (37, "90832"),
            (38, "90834"),
            (52, "90834"),
            (53, "90837"),
            (180, "90837"),
        ] {
            let s = suggest_codes(&session(EncounterType::IndividualTherapy, minutes));
            assert_eq!(codes(&s), [(expected, 1)], "{minutes} minutes");
            assert!(s.not_billed.is_empty());
            assert_why_mentions(&s, minutes);
        }
        let s = suggest_codes(&session(EncounterType::IndividualTherapy, 50));
        assert_eq!(
            s.lines[0].why,
            "50 minutes of psychotherapy is within 38-52 minutes: 90834"
        );
        let s = suggest_codes(&session(EncounterType::IndividualTherapy, 60));
        assert!(s.lines[0].why.contains("53 minutes or more"));
    }

    #[test]
    fn under_sixteen_minutes_of_psychotherapy_bills_nothing_and_says_why() {
        for minutes in [0, 1, 15] {
            let s = suggest_codes(&session(EncounterType::IndividualTherapy, minutes));
            assert!(s.lines.is_empty(), "{minutes} minutes");
            assert_eq!(s.not_billed.len(), 1);
            assert!(s.not_billed[0].starts_with("Under 16 minutes of psychotherapy"));
            assert!(s.not_billed[0].contains("no psychotherapy code can be billed"));
            assert_why_mentions(&s, minutes);
        }
    }

    #[test]
    fn telehealth_encounters_are_coded_like_individual_therapy() {
        let mut facts = session(EncounterType::Telehealth, 45);
        facts.modality = Modality::Video;
        let s = suggest_codes(&facts);
        assert_eq!(codes(&s), [("90834", 1)]);
        assert_eq!(s.lines[0].modifiers, ["95"]);
    }

    #[test]
    fn crisis_time_is_90839_then_one_90840_per_further_thirty_minutes() {
        for (minutes, expected) in [
            (30, vec![("90839", 1)]),
            (74, vec![("90839", 1)]),
            (75, vec![("90839", 1), ("90840", 1)]),
            (104, vec![("90839", 1), ("90840", 1)]),
            (105, vec![("90839", 1), ("90840", 2)]),
            (134, vec![("90839", 1), ("90840", 2)]),
            (135, vec![("90839", 1), ("90840", 3)]),
        ] {
            let s = suggest_codes(&session(EncounterType::Crisis, minutes));
            assert_eq!(codes(&s), expected, "{minutes} minutes");
            assert!(s.not_billed.is_empty());
            assert_why_mentions(&s, minutes);
        }
        let s = suggest_codes(&session(EncounterType::Crisis, 105));
        assert!(s.lines[1].why.contains("2 units"), "{}", s.lines[1].why);
    }

    #[test]
    fn under_thirty_minutes_of_crisis_time_is_billed_as_psychotherapy() {
        for (minutes, expected) in [(16, "90832"), (29, "90832")] {
            let s = suggest_codes(&session(EncounterType::Crisis, minutes));
            assert_eq!(codes(&s), [(expected, 1)], "{minutes} minutes");
            assert!(s.lines[0].why.contains("billed as psychotherapy by time"));
            assert_why_mentions(&s, minutes);
        }
        let s = suggest_codes(&session(EncounterType::Crisis, 15));
        assert!(s.lines.is_empty());
        assert!(s.not_billed[0].contains("billed as psychotherapy by time"));
        assert!(s.not_billed[0].contains("no psychotherapy code can be billed"));
        assert_why_mentions(&s, 15);
    }

    #[test]
    fn intake_is_an_evaluation_with_or_without_medical_services() {
        let s = suggest_codes(&session(EncounterType::Intake, 60));
        assert_eq!(codes(&s), [("90791", 1)]);
        assert_why_mentions(&s, 60);
        let mut facts = session(EncounterType::Intake, 60);
        facts.with_medical_services = true;
        assert_eq!(codes(&suggest_codes(&facts)), [("90792", 1)]);
    }

    fn visit(status: PatientStatus, total: u32, psychotherapy: Option<u32>) -> Suggestion {
        let mut facts = session(EncounterType::MedicationManagement, total);
        facts.patient_status = status;
        facts.psychotherapy_minutes = psychotherapy;
        suggest_codes(&facts)
    }

    #[test]
    fn e_m_visits_are_coded_by_time_for_new_and_established_patients() {
        for (status, minutes, expected) in [
            (PatientStatus::New, 15, "99202"),
            (PatientStatus::New, 29, "99202"),
            (PatientStatus::New, 30, "99203"),
            (PatientStatus::New, 44, "99203"),
            (PatientStatus::New, 45, "99204"),
            (PatientStatus::New, 59, "99204"),
            (PatientStatus::New, 60, "99205"),
            (PatientStatus::Established, 10, "99212"),
            (PatientStatus::Established, 19, "99212"),
            (PatientStatus::Established, 20, "99213"),
            (PatientStatus::Established, 29, "99213"),
            (PatientStatus::Established, 30, "99214"),
            (PatientStatus::Established, 39, "99214"),
            (PatientStatus::Established, 40, "99215"),
        ] {
            let s = visit(status, minutes, None);
            assert_eq!(codes(&s), [(expected, 1)], "{status:?} {minutes} minutes");
            assert!(s.not_billed.is_empty());
            assert_why_mentions(&s, minutes);
        }
        for (status, minutes) in [(PatientStatus::New, 14), (PatientStatus::Established, 9)] {
            let s = visit(status, minutes, None);
            assert!(s.lines.is_empty(), "{status:?} {minutes} minutes");
            assert!(s.not_billed[0].contains("no office visit code can be billed"));
            assert_why_mentions(&s, minutes);
        }
    }

    #[test]
    fn psychotherapy_add_on_follows_the_separately_stated_minutes() {
        // 20 minutes of E/M plus the stated psychotherapy minutes.
        for (psychotherapy, add_on) in [
            (16, "90833"),
            (37, "90833"),
            (38, "90836"),
            (52, "90836"),
            (53, "90838"),
        ] {
            let s = visit(
                PatientStatus::Established,
                20 + psychotherapy,
                Some(psychotherapy),
            );
            assert_eq!(
                codes(&s),
                [("99213", 1), (add_on, 1)],
                "{psychotherapy} minutes"
            );
            assert!(s.lines[1].why.contains(&format!("{psychotherapy} minutes")));
            // The psychotherapy minutes do not count toward the visit.
            assert!(s.lines[0].why.contains("20 minutes of E/M time"));
        }
        let s = visit(PatientStatus::Established, 45, Some(15));
        assert_eq!(codes(&s), [("99214", 1)]);
        assert_eq!(s.not_billed.len(), 1);
        assert!(s.not_billed[0].starts_with("Under 16 minutes of psychotherapy"));
        assert!(s.not_billed[0].contains("15 minutes"));
    }

    #[test]
    fn no_add_on_without_an_e_m_visit() {
        let s = visit(PatientStatus::Established, 45, Some(40));
        assert!(s.lines.is_empty());
        assert_eq!(s.not_billed.len(), 2);
        assert!(s.not_billed[1].contains("only be billed beside an E/M visit"));
    }

    #[test]
    fn family_psychotherapy_depends_on_the_patient_being_present() {
        let s = suggest_codes(&session(EncounterType::FamilyTherapy, 26));
        assert_eq!(codes(&s), [("90847", 1)]);
        assert_why_mentions(&s, 26);
        let mut facts = session(EncounterType::FamilyTherapy, 50);
        facts.patient_present = false;
        let s = suggest_codes(&facts);
        assert_eq!(codes(&s), [("90846", 1)]);
        assert_why_mentions(&s, 50);
        let s = suggest_codes(&session(EncounterType::FamilyTherapy, 25));
        assert!(s.lines.is_empty());
        assert!(s.not_billed[0].starts_with("Under 26 minutes of family psychotherapy"));
        assert_why_mentions(&s, 25);
    }

    #[test]
    fn group_psychotherapy_is_90853() {
        let s = suggest_codes(&session(EncounterType::GroupTherapy, 90));
        assert_eq!(codes(&s), [("90853", 1)]);
        assert_why_mentions(&s, 90);
    }

    fn with_interactive_complexity(mut facts: SessionFacts) -> Suggestion {
        facts.interactive_complexity = true;
        suggest_codes(&facts)
    }

    #[test]
    fn interactive_complexity_is_added_beside_eligible_primary_codes() {
        for (facts, primary) in [
            (session(EncounterType::IndividualTherapy, 45), "90834"),
            (session(EncounterType::GroupTherapy, 60), "90853"),
            (session(EncounterType::Intake, 60), "90791"),
            (session(EncounterType::Crisis, 20), "90832"),
        ] {
            let s = with_interactive_complexity(facts);
            assert_eq!(codes(&s), [(primary, 1), ("90785", 1)]);
            assert!(s.lines[1].why.contains(primary));
        }
        let mut facts = session(EncounterType::MedicationManagement, 50);
        facts.psychotherapy_minutes = Some(30);
        let s = with_interactive_complexity(facts);
        assert_eq!(codes(&s), [("99213", 1), ("90833", 1), ("90785", 1)]);
    }

    #[test]
    fn interactive_complexity_is_not_billed_with_crisis_family_or_e_m_alone() {
        for (facts, refused) in [
            (session(EncounterType::Crisis, 60), "90839"),
            (session(EncounterType::Crisis, 80), "90839 and 90840"),
            (session(EncounterType::FamilyTherapy, 50), "90847"),
            (session(EncounterType::MedicationManagement, 25), "99213"),
        ] {
            let s = with_interactive_complexity(facts);
            assert!(s.lines.iter().all(|l| l.cpt_code != "90785"));
            assert_eq!(s.not_billed.len(), 1);
            assert!(s.not_billed[0].contains(&format!("cannot be billed with {refused}")));
        }
        let s = with_interactive_complexity(session(EncounterType::IndividualTherapy, 10));
        assert!(s.lines.is_empty());
        assert_eq!(s.not_billed.len(), 2);
        assert!(s.not_billed[1].contains("no primary code"));
    }

    #[test]
    fn modality_sets_the_modifier_on_every_line_and_the_place_of_service() {
        let mut facts = session(EncounterType::Crisis, 80);
        let s = suggest_codes(&facts);
        assert_eq!(s.place_of_service.code, "11");
        assert!(s.lines.iter().all(|l| l.modifiers.is_empty()));

        facts.modality = Modality::Video;
        let s = suggest_codes(&facts);
        assert_eq!(s.place_of_service.code, "10");
        assert_eq!(s.lines.len(), 2);
        for l in &s.lines {
            assert_eq!(l.modifiers, ["95"]);
            assert!(l.why.ends_with("modifier 95 for a video session"));
        }

        facts.modality = Modality::AudioOnly;
        let s = suggest_codes(&facts);
        assert_eq!(s.place_of_service.code, "10");
        assert!(s.place_of_service.why.contains("audio-only"));
        for l in &s.lines {
            assert_eq!(l.modifiers, ["93"]);
        }
    }

    #[test]
    fn time_ranges_are_contiguous_and_named_once() {
        for ranges in [
            &PSYCHOTHERAPY[..],
            &PSYCHOTHERAPY_ADD_ON[..],
            &NEW_PATIENT_VISIT[..],
            &ESTABLISHED_PATIENT_VISIT[..],
        ] {
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].until, Some(pair[1].from));
            }
            assert_eq!(ranges.last().map(|r| r.until), Some(None));
        }
        let mut seen: Vec<&str> = CPT_TIME_RANGES.iter().map(|r| r.code).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), CPT_TIME_RANGES.len());
    }

    #[test]
    fn prescribers_are_read_from_credentials() {
        for credentials in ["MD", "DO", "PMHNP-BC", "APRN, FNP", "PA-C", "np"] {
            assert!(is_prescriber(credentials), "{credentials}");
        }
        for credentials in ["LCSW", "LPC-A", "PsyD", "LMFT", "PhD"] {
            assert!(!is_prescriber(credentials), "{credentials}");
        }
    }

    #[test]
    fn database_values_name_the_kinds_of_session() {
        assert_eq!(
            EncounterType::from_db("medication_management"),
            Some(EncounterType::MedicationManagement)
        );
        assert_eq!(EncounterType::from_db("walk"), None);
        assert_eq!(Modality::from_db("audio_only"), Some(Modality::AudioOnly));
        assert_eq!(Modality::from_db("fax"), None);
    }
}
