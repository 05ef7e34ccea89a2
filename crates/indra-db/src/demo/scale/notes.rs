//! The text of scale notes: a few sentences per section of the provider's format, about the
//! patient's concern, varied from session to session so that notes do not repeat each other.

use serde_json::{Value, json};

use super::plan::{EncounterPlan, PatientPlan, Prng};
use crate::demo::names::THEMES;

const ARRIVALS: &[&str] = &[
    "arrived on time",
    "arrived a few minutes late, apologetic",
    "joined the video visit from home",
    "arrived early and waited calmly",
];
const SLEEP: &[&str] = &[
    "Sleep about 6 hours a night, with one waking.",
    "Sleeping 7 to 8 hours; falling asleep is easier than last month.",
    "Reports restless sleep on work nights only.",
    "Sleep unchanged; naps most afternoons.",
];
const MOODS: &[&str] = &["okay", "tired", "better", "anxious", "flat", "hopeful"];
const PROGRESS: &[&str] = &[
    "Symptoms improving",
    "Partial response so far",
    "Progress slowed by a stressful week",
    "Steady gains toward the stated goals",
];
const HOMEWORK: &[&str] = &[
    "daily mood log",
    "thought record twice this week",
    "three scheduled pleasant activities",
    "10 minutes of paced breathing each evening",
    "one exposure step from the hierarchy",
];
const RISK: &str = "Denies SI/HI; no safety concerns today.";

/// The content of the note of `session`, in `format` (SOAP, DAP or BIRP).
pub fn note_content(format: &str, patient: &PatientPlan, session: &EncounterPlan) -> Value {
    let mut rng = Prng::new(&[7, patient.id.as_u128() as u64, session.index]);
    let (concern, intervention) = THEMES[(patient.index as usize) % THEMES.len()];
    let name = patient.first_name;
    let minutes = session.minutes();
    let arrival = rng.pick(ARRIVALS);
    let sleep = rng.pick(SLEEP);
    let mood = rng.pick(MOODS);
    let progress = rng.pick(PROGRESS);
    let homework = rng.pick(HOMEWORK);
    let rating = 3 + rng.below(6);
    match format {
        "DAP" => json!({
            "data": format!("{name} {arrival} and reported {concern}; rated distress {rating}/10. {sleep} Session {minutes} minutes."),
            "assessment": format!("{progress} with {intervention}. {RISK}"),
            "plan": format!("Continue sessions with {intervention}. Homework: {homework}."),
        }),
        "BIRP" => json!({
            "behavior": format!("{name} {arrival}, described {concern}, mood '{mood}', affect congruent."),
            "intervention": format!("Clinician used {intervention} and reviewed the {homework} assigned last time."),
            "response": format!("{name} engaged throughout and named two coping steps to practise. Distress {rating}/10 at close."),
            "plan": format!("Meet again next week; {homework}. Supervisor review per policy."),
        }),
        _ => json!({
            "subjective": format!("{name} reports {concern}. {sleep}"),
            "objective": format!("{name} {arrival}; alert and oriented, mood '{mood}', affect congruent, {minutes} minutes."),
            "assessment": format!("{progress} with {intervention}. {RISK}"),
            "plan": format!("Continue the current plan; homework: {homework}. Next session in one week."),
        }),
    }
}
