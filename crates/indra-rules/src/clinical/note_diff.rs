//! What changed between two versions of a note, section by section, as a line diff: what a
//! reviewer of an amendment needs to see ("the rating in Assessment went from 6/10 to 5/10")
//! without reading both versions side by side.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

/// What happened to one line of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineChange {
    Unchanged,
    Added,
    Removed,
}

impl LineChange {
    /// `unchanged`, `added` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Added => "added",
            Self::Removed => "removed",
        }
    }
}

/// One line of a section's diff, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub change: LineChange,
    pub text: String,
}

/// A section whose text differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionDiff {
    /// The section key (`subjective`, `assessment`, ...).
    pub section: String,
    /// Every line of the section, old and new, in reading order.
    pub lines: Vec<DiffLine>,
}

/// The sections whose text differs between `previous` and `current` (note contents: objects of
/// section -> text), in `reading_order`, then any other section by name. A section present in
/// only one version (the format changed) diffs against empty text. Unchanged sections are left
/// out, so an unchanged note has no section diffs.
pub fn diff_note_sections(
    reading_order: &[&str],
    previous: &Value,
    current: &Value,
) -> Vec<SectionDiff> {
    let mut sections: Vec<String> = reading_order.iter().map(|s| (*s).to_owned()).collect();
    let mut others: Vec<String> = [previous, current]
        .iter()
        .filter_map(|content| content.as_object())
        .flat_map(|object| object.keys().cloned())
        .filter(|key| !sections.contains(key))
        .collect();
    others.sort();
    others.dedup();
    sections.extend(others);

    sections
        .into_iter()
        .filter_map(|section| {
            let old = section_text(previous, &section);
            let new = section_text(current, &section);
            (old != new).then(|| SectionDiff {
                lines: diff_lines(old, new),
                section,
            })
        })
        .collect()
}

/// The text of a section, or empty when the version has no such section.
fn section_text<'a>(content: &'a Value, section: &str) -> &'a str {
    content.get(section).and_then(Value::as_str).unwrap_or("")
}

/// A line diff of two texts. A final line without a newline is the same line as with one.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    let (old, new) = (with_final_newline(old), with_final_newline(new));
    TextDiff::from_lines(old.as_str(), new.as_str())
        .iter_all_changes()
        .map(|change| DiffLine {
            change: match change.tag() {
                ChangeTag::Equal => LineChange::Unchanged,
                ChangeTag::Insert => LineChange::Added,
                ChangeTag::Delete => LineChange::Removed,
            },
            text: change
                .value()
                .strip_suffix('\n')
                .unwrap_or(change.value())
                .to_owned(),
        })
        .collect()
}

fn with_final_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAP: &[&str] = &["data", "assessment", "plan"];

    fn lines(diff: &SectionDiff) -> Vec<(LineChange, &str)> {
        diff.lines
            .iter()
            .map(|l| (l.change, l.text.as_str()))
            .collect()
    }

    #[test]
    fn only_changed_sections_are_listed_in_reading_order() {
        let before = json!({"plan": "Weekly CBT.", "data": "Mood 6/10.\nSleep 6 hours.", "assessment": "Stable."});
        let after = json!({"plan": "Weekly CBT.\nHomework: journal.", "data": "Mood 5/10.\nSleep 6 hours.", "assessment": "Stable."});
        let diffs = diff_note_sections(DAP, &before, &after);
        assert_eq!(
            diffs.iter().map(|d| d.section.as_str()).collect::<Vec<_>>(),
            ["data", "plan"]
        );
        assert_eq!(
            lines(&diffs[0]),
            [
                (LineChange::Removed, "Mood 6/10."),
                (LineChange::Added, "Mood 5/10."),
                (LineChange::Unchanged, "Sleep 6 hours."),
            ]
        );
        assert_eq!(
            lines(&diffs[1]),
            [
                (LineChange::Unchanged, "Weekly CBT."),
                (LineChange::Added, "Homework: journal."),
            ]
        );
    }

    #[test]
    fn identical_versions_have_no_diff() {
        let content = json!({"data": "d", "assessment": "a", "plan": "p"});
        assert!(diff_note_sections(DAP, &content, &content).is_empty());
    }

    #[test]
    fn a_changed_format_diffs_sections_against_nothing() {
        let before = json!({"data": "d", "assessment": "a", "plan": "p"});
        let after = json!({"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"});
        let diffs = diff_note_sections(DAP, &before, &after);
        assert_eq!(
            diffs.iter().map(|d| d.section.as_str()).collect::<Vec<_>>(),
            ["data", "objective", "subjective"]
        );
        assert_eq!(lines(&diffs[0]), [(LineChange::Removed, "d")]);
        assert_eq!(lines(&diffs[2]), [(LineChange::Added, "s")]);
    }

    #[test]
    fn a_final_newline_is_not_a_change() {
        assert_eq!(
            diff_lines("one\ntwo", "one\ntwo\n")
                .iter()
                .map(|l| l.change)
                .collect::<Vec<_>>(),
            [LineChange::Unchanged, LineChange::Unchanged]
        );
    }
}
