//! The structured formats a progress note can be written in.

use std::fmt;
use std::str::FromStr;

/// A progress-note format: which sections a note has, in the order the clinician writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoteFormat {
    /// Subjective, Objective, Assessment, Plan.
    Soap,
    /// Data, Assessment, Plan.
    Dap,
    /// Behavior, Intervention, Response, Plan.
    Birp,
}

impl NoteFormat {
    /// Every format, in the order they are offered to clinicians.
    pub const ALL: [NoteFormat; 3] = [NoteFormat::Soap, NoteFormat::Dap, NoteFormat::Birp];

    /// The section keys of a note in this format, in order (lowercase, as stored in the note body).
    pub fn sections(self) -> &'static [&'static str] {
        match self {
            NoteFormat::Soap => &["subjective", "objective", "assessment", "plan"],
            NoteFormat::Dap => &["data", "assessment", "plan"],
            NoteFormat::Birp => &["behavior", "intervention", "response", "plan"],
        }
    }

    /// The format's code as stored in the database and shown to users: `SOAP`, `DAP` or `BIRP`.
    pub fn code(self) -> &'static str {
        match self {
            NoteFormat::Soap => "SOAP",
            NoteFormat::Dap => "DAP",
            NoteFormat::Birp => "BIRP",
        }
    }
}

impl fmt::Display for NoteFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A note format code that is not `SOAP`, `DAP` or `BIRP`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown note format {0:?}: expected SOAP, DAP or BIRP")]
pub struct UnknownNoteFormat(pub String);

impl FromStr for NoteFormat {
    type Err = UnknownNoteFormat;

    /// Parses the exact codes `SOAP`, `DAP` and `BIRP`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoteFormat::ALL
            .into_iter()
            .find(|f| f.code() == s)
            .ok_or_else(|| UnknownNoteFormat(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_per_format() {
        let cases: [(&str, &[&str]); 3] = [
            ("SOAP", &["subjective", "objective", "assessment", "plan"]),
            ("DAP", &["data", "assessment", "plan"]),
            ("BIRP", &["behavior", "intervention", "response", "plan"]),
        ];
        for (code, sections) in cases {
            let format: NoteFormat = code.parse().unwrap();
            assert_eq!(format.sections(), sections, "{code}");
            assert_eq!(format.to_string(), code);
        }
    }

    #[test]
    fn every_format_ends_with_a_plan() {
        for format in NoteFormat::ALL {
            assert_eq!(format.sections().last(), Some(&"plan"), "{format}");
        }
    }

    #[test]
    fn rejects_unknown_codes() {
        for bad in ["soap", "Soap", "SOAP ", "", "DAPP", "GIRP"] {
            assert_eq!(
                bad.parse::<NoteFormat>(),
                Err(UnknownNoteFormat(bad.to_owned())),
                "{bad:?}"
            );
        }
    }
}
