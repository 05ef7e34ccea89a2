//! Splits a received interchange into segments, with the delimiters its ISA header declares.
//!
//! X12 lets each sender choose its delimiters: the element separator is the character right after
//! "ISA", the component separator is ISA16 and the segment terminator is the character after
//! ISA16. Payers differ (`*`/`~` is common, `|`, `^` and newline-terminated files exist), so they
//! are read, never assumed.

use super::X12Error;

/// One segment: its id and elements, and where it stood in the file for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment<'a> {
    /// 1-based position in the interchange (ISA is 1).
    pub(crate) position: usize,
    pub(crate) id: &'a str,
    /// Elements after the id: `elements[0]` is element 01.
    elements: Vec<&'a str>,
    component_separator: char,
}

impl<'a> Segment<'a> {
    /// Element `n` (1-based, as the guide numbers them), empty when absent.
    pub(crate) fn element(&self, n: usize) -> &'a str {
        n.checked_sub(1)
            .and_then(|i| self.elements.get(i))
            .copied()
            .unwrap_or("")
            .trim()
    }

    /// The components of composite element `n`.
    pub(crate) fn components(&self, n: usize) -> Vec<&'a str> {
        let element = self.element(n);
        if element.is_empty() {
            return Vec::new();
        }
        element
            .split(self.component_separator)
            .map(str::trim)
            .collect()
    }

    /// An error about this segment.
    pub(crate) fn error(&self, problem: impl Into<String>) -> X12Error {
        X12Error::Malformed {
            position: self.position,
            segment: self.id.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Reads the delimiters from the ISA header and splits the interchange into segments. Whitespace
/// around segments (the line breaks many payers put after each terminator) is ignored.
pub(crate) fn read_segments(text: &str) -> Result<Vec<Segment<'_>>, X12Error> {
    let text = text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
    let Some(after_isa) = text.strip_prefix("ISA") else {
        return Err(X12Error::NotAnInterchange(
            "it does not start with an ISA segment".to_owned(),
        ));
    };
    let mut chars = after_isa.chars();
    let Some(element_separator) = chars.next() else {
        return Err(X12Error::NotAnInterchange(
            "the ISA segment is cut short".to_owned(),
        ));
    };
    if element_separator.is_alphanumeric() || element_separator.is_whitespace() {
        return Err(X12Error::NotAnInterchange(format!(
            "the ISA segment's element separator {element_separator:?} is a letter, digit or space"
        )));
    }
    // ISA has 16 elements; we have just read the first separator, 15 more precede ISA16.
    let mut separators_seen = 1;
    for c in chars.by_ref() {
        if c == element_separator {
            separators_seen += 1;
            if separators_seen == 16 {
                break;
            }
        }
    }
    let (Some(component_separator), Some(segment_terminator)) = (chars.next(), chars.next()) else {
        return Err(X12Error::NotAnInterchange(
            "the ISA segment is cut short before its component separator (ISA16) and segment terminator"
                .to_owned(),
        ));
    };
    if segment_terminator == element_separator
        || segment_terminator == component_separator
        || component_separator == element_separator
        || segment_terminator.is_alphanumeric()
    {
        return Err(X12Error::NotAnInterchange(format!(
            "the ISA segment declares unusable delimiters (element {element_separator:?}, component \
             {component_separator:?}, segment {segment_terminator:?})"
        )));
    }

    let mut segments = Vec::new();
    for raw in text.split(segment_terminator) {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let position = segments.len() + 1;
        let mut parts = raw.split(element_separator);
        let id = parts.next().unwrap_or("").trim();
        let id_is_valid = (2..=3).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !id_is_valid {
            let shown: String = id.chars().take(10).collect();
            return Err(X12Error::Malformed {
                position,
                segment: shown,
                problem: "is not a segment id (2 or 3 capital letters or digits)".to_owned(),
            });
        }
        segments.push(Segment {
            position,
            id,
            elements: parts.collect(),
            component_separator,
        });
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &str = "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PRACTICE       *240115*1200*^*00501*000000001*0*T*:~";

    #[test]
    fn delimiters_come_from_the_isa_header() {
        let text = ISA.replace('*', "|").replace(":~", ">\n") + "GS|HP|A|B\nSVC|HC>90837>95|150\n";
        let segments = read_segments(&text).unwrap();
        assert_eq!(segments.len(), 3);
        assert_eq!(segments[2].id, "SVC");
        assert_eq!(segments[2].components(1), ["HC", "90837", "95"]);
        assert_eq!(segments[2].element(2), "150");
        assert_eq!(segments[2].element(9), "");
    }

    #[test]
    fn line_breaks_after_terminators_are_ignored() {
        let text = format!("{ISA}\r\nGS*HP*A*B~\r\n\r\nST*835*0001~\n");
        let ids: Vec<_> = read_segments(&text).unwrap().iter().map(|s| s.id).collect();
        assert_eq!(ids, ["ISA", "GS", "ST"]);
    }

    #[test]
    fn text_that_is_not_an_interchange_is_refused() {
        assert!(matches!(
            read_segments("hello"),
            Err(X12Error::NotAnInterchange(_))
        ));
        assert!(matches!(
            read_segments("ISA*00*"),
            Err(X12Error::NotAnInterchange(_))
        ));
        let bad_id = format!("{ISA}gs*HP~");
        let err = read_segments(&bad_id).unwrap_err();
        assert_eq!(
            err.to_string(),
            "segment 2 (gs): is not a segment id (2 or 3 capital letters or digits)"
        );
    }
}
