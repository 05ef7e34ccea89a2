//! The content of a treatment plan: the problems being treated (each linked to a diagnosis by
//! its ICD-10 code), the measurable goals for each, the objectives toward a goal with their target
//! dates, and the interventions with how often they happen.
//!
//! The database checks the plan's outline (`app.treatment_plan_content_is_valid`); this is the
//! finer check that tells a clinician exactly which field of which problem is wrong, e.g.
//! `problems[0].goals[1].objectives[0].target_date: not a date (YYYY-MM-DD)`, before the plan
//! reaches the database.

use std::fmt;

use serde_json::{Map, Value, json};
use time::{Date, Month};

/// Longest text of one field (a statement, a goal, a frequency...), in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Most problems one plan addresses, and most goals, objectives or interventions in one list.
pub const MAX_ITEMS: usize = 50;

/// A treatment plan's content, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreatmentPlanContent {
    pub problems: Vec<Problem>,
}

/// A problem the plan treats, tied to one of the patient's diagnoses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The diagnosis this problem is about, e.g. `F41.1`.
    pub icd10_code: String,
    /// The problem in the clinician's (and often the client's) words.
    pub statement: String,
    pub goals: Vec<Goal>,
    pub interventions: Vec<Intervention>,
}

/// A goal and how progress toward it is measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    pub goal: String,
    /// How the goal is measured, e.g. "GAD-7 below 10 on two consecutive screenings".
    pub measure: String,
    pub objectives: Vec<Objective>,
}

/// A concrete step toward a goal, due by a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    pub objective: String,
    pub target_date: Date,
}

/// What the clinician does, and how often (e.g. "CBT", "weekly").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    pub intervention: String,
    pub frequency: String,
}

/// One thing wrong with a plan's content: where (`problems[0].goals[1].measure`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Everything wrong with a plan's content, in document order (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPlanContent(pub Vec<ContentError>);

impl InvalidPlanContent {
    /// The first error, which a form shows next to its field.
    pub fn first(&self) -> Option<&ContentError> {
        self.0.first()
    }
}

impl std::error::Error for InvalidPlanContent {}

impl fmt::Display for InvalidPlanContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Parses a calendar date written `YYYY-MM-DD` (the form the API and the database use).
pub fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = &text[range];
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    let day = u8::try_from(digits(8..10)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// An ICD-10-CM code's shape: a letter, two characters, then optionally a dot and 1-4 more
/// (the same pattern as `icd10_codes.code`). Whether the code exists is the database's to say.
pub fn looks_like_icd10(code: &str) -> bool {
    let bytes = code.as_bytes();
    let alnum = |b: &u8| b.is_ascii_digit() || b.is_ascii_uppercase();
    let head = bytes.len() >= 3
        && bytes[0].is_ascii_uppercase()
        && bytes[1].is_ascii_digit()
        && alnum(&bytes[2]);
    head && match &bytes[3..] {
        [] => true,
        [b'.', rest @ ..] => (1..=4).contains(&rest.len()) && rest.iter().all(alnum),
        _ => false,
    }
}

/// Walks the JSON, collecting every error with its path.
struct Walker {
    errors: Vec<ContentError>,
}

impl Walker {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ContentError {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    /// An object with exactly `keys` (all required): `None` when it is not an object.
    fn object<'v>(
        &mut self,
        path: &str,
        value: &'v Value,
        keys: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(object) = value.as_object() else {
            self.error(path, "not an object");
            return None;
        };
        for key in object.keys() {
            if !keys.contains(&key.as_str()) {
                self.error(
                    &join(path, key),
                    format!("unknown field; expected {}", keys.join(", ")),
                );
            }
        }
        Some(object)
    }

    /// A required, non-blank text of at most MAX_TEXT_CHARS characters, trimmed.
    fn text(&mut self, path: &str, object: &Map<String, Value>, key: &str) -> Option<String> {
        let path = join(path, key);
        match object.get(key) {
            None | Some(Value::Null) => self.error(&path, "required"),
            Some(Value::String(text)) => {
                let text = text.trim();
                if text.is_empty() {
                    self.error(&path, "must not be blank");
                } else if text.chars().count() > MAX_TEXT_CHARS {
                    self.error(&path, format!("longer than {MAX_TEXT_CHARS} characters"));
                } else {
                    return Some(text.to_owned());
                }
            }
            Some(_) => self.error(&path, "not a string"),
        }
        None
    }

    /// A required array of 1..=MAX_ITEMS items, each parsed by `item` with its own path.
    fn list<T>(
        &mut self,
        path: &str,
        object: &Map<String, Value>,
        key: &str,
        what: &str,
        mut item: impl FnMut(&mut Self, &str, &Value) -> Option<T>,
    ) -> Option<Vec<T>> {
        let path = join(path, key);
        let items = match object.get(key) {
            None | Some(Value::Null) => {
                self.error(&path, "required");
                return None;
            }
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error(&path, "not an array");
                return None;
            }
        };
        if items.is_empty() {
            self.error(&path, format!("at least one {what} is required"));
            return None;
        }
        if items.len() > MAX_ITEMS {
            self.error(&path, format!("at most {MAX_ITEMS} {what}s"));
            return None;
        }
        let parsed: Vec<Option<T>> = items
            .iter()
            .enumerate()
            .map(|(i, value)| item(self, &format!("{path}[{i}]"), value))
            .collect();
        parsed.into_iter().collect()
    }

    fn problem(&mut self, path: &str, value: &Value) -> Option<Problem> {
        let object = self.object(
            path,
            value,
            &["icd10_code", "statement", "goals", "interventions"],
        )?;
        let icd10_code = self.text(path, object, "icd10_code").and_then(|code| {
            let code = code.to_ascii_uppercase();
            if looks_like_icd10(&code) {
                Some(code)
            } else {
                self.error(
                    &join(path, "icd10_code"),
                    "not an ICD-10-CM code (e.g. F41.1)",
                );
                None
            }
        });
        let statement = self.text(path, object, "statement");
        let goals = self.list(path, object, "goals", "goal", Self::goal);
        let interventions = self.list(
            path,
            object,
            "interventions",
            "intervention",
            Self::intervention,
        );
        Some(Problem {
            icd10_code: icd10_code?,
            statement: statement?,
            goals: goals?,
            interventions: interventions?,
        })
    }

    fn goal(&mut self, path: &str, value: &Value) -> Option<Goal> {
        let object = self.object(path, value, &["goal", "measure", "objectives"])?;
        let goal = self.text(path, object, "goal");
        let measure = self.text(path, object, "measure");
        let objectives = self.list(path, object, "objectives", "objective", Self::objective);
        Some(Goal {
            goal: goal?,
            measure: measure?,
            objectives: objectives?,
        })
    }

    fn objective(&mut self, path: &str, value: &Value) -> Option<Objective> {
        let object = self.object(path, value, &["objective", "target_date"])?;
        let objective = self.text(path, object, "objective");
        let target_date = self.text(path, object, "target_date").and_then(|text| {
            let date = parse_date(&text);
            if date.is_none() {
                self.error(&join(path, "target_date"), "not a date (YYYY-MM-DD)");
            }
            date
        });
        Some(Objective {
            objective: objective?,
            target_date: target_date?,
        })
    }

    fn intervention(&mut self, path: &str, value: &Value) -> Option<Intervention> {
        let object = self.object(path, value, &["intervention", "frequency"])?;
        let intervention = self.text(path, object, "intervention");
        let frequency = self.text(path, object, "frequency");
        Some(Intervention {
            intervention: intervention?,
            frequency: frequency?,
        })
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl TreatmentPlanContent {
    /// Parses a plan's content, naming every field that is missing, blank, of the wrong type,
    /// unknown, or not a date or an ICD-10 code. Text is trimmed and codes are upper-cased.
    pub fn parse(value: &Value) -> Result<Self, InvalidPlanContent> {
        let mut walker = Walker { errors: Vec::new() };
        let problems = walker
            .object("", value, &["problems"])
            .and_then(|object| walker.list("", object, "problems", "problem", Walker::problem));
        match problems {
            Some(problems) if walker.errors.is_empty() => Ok(Self { problems }),
            _ => {
                if walker.errors.is_empty() {
                    walker.error("", "not a treatment plan");
                }
                Err(InvalidPlanContent(walker.errors))
            }
        }
    }

    /// Objectives due before the plan takes effect: a target date must lie in the plan's span.
    pub fn objectives_due_before(&self, effective_on: Date) -> Vec<ContentError> {
        let mut errors = Vec::new();
        for (p, problem) in self.problems.iter().enumerate() {
            for (g, goal) in problem.goals.iter().enumerate() {
                for (o, objective) in goal.objectives.iter().enumerate() {
                    if objective.target_date < effective_on {
                        errors.push(ContentError {
                            path: format!("problems[{p}].goals[{g}].objectives[{o}].target_date"),
                            message: format!("before the plan's effective date ({effective_on})"),
                        });
                    }
                }
            }
        }
        errors
    }

    /// The diagnoses the plan treats, in the order of its problems.
    pub fn icd10_codes(&self) -> impl Iterator<Item = &str> {
        self.problems.iter().map(|p| p.icd10_code.as_str())
    }

    /// The content as stored: the parsed (trimmed) values, dates as `YYYY-MM-DD`.
    pub fn to_json(&self) -> Value {
        json!({"problems": self.problems.iter().map(|p| json!({
            "icd10_code": p.icd10_code,
            "statement": p.statement,
            "goals": p.goals.iter().map(|g| json!({
                "goal": g.goal,
                "measure": g.measure,
                "objectives": g.objectives.iter().map(|o| json!({
                    "objective": o.objective,
                    "target_date": o.target_date.to_string(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "interventions": p.interventions.iter().map(|i| json!({
                "intervention": i.intervention,
                "frequency": i.frequency,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn plan() -> Value {
        json!({"problems": [{
            "icd10_code": "F41.1",
            "statement": "Client reports persistent worry.",
            "goals": [
                {"goal": "Reduce anxiety", "measure": "GAD-7 below 10",
                 "objectives": [{"objective": "Practise breathing daily", "target_date": "2027-01-15"}]},
                {"goal": "Sleep through the night", "measure": "5 of 7 nights in a sleep log",
                 "objectives": [{"objective": "Keep a sleep log", "target_date": "2027-02-01"}]}
            ],
            "interventions": [{"intervention": "CBT", "frequency": "weekly"}]
        }]})
    }

    fn errors(value: &Value) -> Vec<String> {
        TreatmentPlanContent::parse(value)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_complete_plan_parses_and_round_trips() {
        let content = TreatmentPlanContent::parse(&plan()).unwrap();
        assert_eq!(content.problems[0].goals.len(), 2);
        assert_eq!(
            content.problems[0].goals[1].objectives[0].target_date,
            date!(2027 - 02 - 01)
        );
        assert_eq!(content.to_json(), plan());
        assert_eq!(content.icd10_codes().collect::<Vec<_>>(), ["F41.1"]);
    }

    #[test]
    fn text_is_trimmed_and_codes_upper_cased() {
        let mut value = plan();
        value["problems"][0]["icd10_code"] = json!(" f41.1 ");
        value["problems"][0]["statement"] = json!("  worry  ");
        let content = TreatmentPlanContent::parse(&value).unwrap();
        assert_eq!(content.problems[0].icd10_code, "F41.1");
        assert_eq!(content.problems[0].statement, "worry");
    }

    #[test]
    fn a_bad_target_date_is_named_by_its_path() {
        let mut value = plan();
        value["problems"][0]["goals"][1]["objectives"][0]["target_date"] = json!("2027-02-30");
        assert_eq!(
            errors(&value),
            ["problems[0].goals[1].objectives[0].target_date: not a date (YYYY-MM-DD)"]
        );
    }

    #[test]
    fn every_error_is_reported_in_document_order() {
        let mut value = plan();
        let problem = &mut value["problems"][0];
        problem["icd10_code"] = json!("anxiety");
        problem["goals"][0]["measure"] = json!("   ");
        problem["goals"][1]
            .as_object_mut()
            .unwrap()
            .remove("objectives");
        problem["interventions"][0]["frequency"] = json!(7);
        problem["interventions"][0]["notes"] = json!("x");
        assert_eq!(
            errors(&value),
            [
                "problems[0].icd10_code: not an ICD-10-CM code (e.g. F41.1)",
                "problems[0].goals[0].measure: must not be blank",
                "problems[0].goals[1].objectives: required",
                "problems[0].interventions[0].notes: unknown field; expected intervention, frequency",
                "problems[0].interventions[0].frequency: not a string",
            ]
        );
    }

    #[test]
    fn empty_lists_and_wrong_shapes_are_refused() {
        assert_eq!(errors(&json!([])), ["not an object"]);
        assert_eq!(errors(&json!({})), ["problems: required"]);
        assert_eq!(
            errors(&json!({"problems": []})),
            ["problems: at least one problem is required"]
        );
        let mut value = plan();
        value["problems"][0]["goals"] = json!([]);
        value["problems"][0]["interventions"] = json!("CBT");
        assert_eq!(
            errors(&value),
            [
                "problems[0].goals: at least one goal is required",
                "problems[0].interventions: not an array"
            ]
        );
        let mut value = plan();
        value["problems"][0]["goals"][0]["objectives"][0] = json!("soon");
        assert_eq!(
            errors(&value),
            ["problems[0].goals[0].objectives[0]: not an object"]
        );
    }

    #[test]
    fn objectives_must_fall_after_the_plan_takes_effect() {
        let content = TreatmentPlanContent::parse(&plan()).unwrap();
        assert!(
            content
                .objectives_due_before(date!(2026 - 11 - 01))
                .is_empty()
        );
        let late = content.objectives_due_before(date!(2027 - 01 - 20));
        assert_eq!(
            late.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["problems[0].goals[0].objectives[0].target_date"]
        );
    }

    #[test]
    fn dates_and_codes() {
        assert_eq!(parse_date("2026-02-28"), Some(date!(2026 - 02 - 28)));
        for bad in [
            "2026-02-29",
            "2026-2-28",
            "26-02-28",
            "2026/02/28",
            "2026-02-2x",
            "+026-02-28",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        for good in ["F41.1", "F32.A", "Z63.0", "F43.10", "F20"] {
            assert!(looks_like_icd10(good), "{good}");
        }
        for bad in [
            "f41.1",
            "F4",
            "F909",
            "41.1",
            "F41.",
            "F41.12345",
            "F41-1",
            "F41.1 ",
        ] {
            assert!(!looks_like_icd10(bad), "{bad}");
        }
    }
}
