//! Writes segments with the delimiters Indra sends: `*` between elements, `:` between components,
//! `^` as repetition separator (ISA11) and `~` after each segment.

use super::X12Error;

pub(crate) const ELEMENT: char = '*';
pub(crate) const COMPONENT: char = ':';
pub(crate) const REPETITION: char = '^';
pub(crate) const SEGMENT: char = '~';

/// Collects segments for one interchange and counts those of the current transaction set (SE01).
pub(crate) struct SegmentWriter {
    out: String,
    segments_in_transaction: usize,
}

impl SegmentWriter {
    pub(crate) fn new() -> Self {
        SegmentWriter {
            out: String::new(),
            segments_in_transaction: 0,
        }
    }

    /// Writes one segment. Trailing empty elements are dropped, as the X12 syntax requires;
    /// empty elements in the middle stay as positional placeholders. Every element is checked for
    /// delimiters, so a value that slipped past the caller's checks still cannot corrupt the file.
    pub(crate) fn segment(
        &mut self,
        context: &str,
        id: &str,
        elements: &[&str],
    ) -> Result<(), X12Error> {
        for (index, element) in elements.iter().enumerate() {
            // The component separator is legitimate here: composites (SV101, CLM05, HI) are built
            // from components that `required`/`optional` already checked for it.
            if let Some(delimiter) = element
                .chars()
                .find(|c| matches!(*c, ELEMENT | SEGMENT | REPETITION | '\r' | '\n'))
            {
                return Err(X12Error::InvalidValue {
                    claim: context.to_owned(),
                    element: format!("{id}{:02}", index + 1),
                    problem: format!("contains the delimiter {delimiter:?}"),
                });
            }
        }
        let used = elements
            .iter()
            .rposition(|e| !e.is_empty())
            .map_or(0, |last| last + 1);
        self.out.push_str(id);
        for element in &elements[..used] {
            self.out.push(ELEMENT);
            self.out.push_str(element);
        }
        // No line break after the terminator: the syntax tolerates one, but some clearinghouses
        // count it as data.
        self.out.push(SEGMENT);
        self.segments_in_transaction += 1;
        Ok(())
    }

    /// Starts counting for SE01, which counts ST through SE inclusive.
    pub(crate) fn start_transaction(&mut self) {
        self.segments_in_transaction = 0;
    }

    /// The count SE01 must carry, SE itself included.
    pub(crate) fn transaction_count_with_se(&self) -> usize {
        self.segments_in_transaction + 1
    }

    /// Writes text that is already a whole segment (the fixed-width ISA).
    pub(crate) fn raw_segment(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push(SEGMENT);
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Joins components into a composite element (SV101 "HC:90837:95", CLM05 "11:B:1"), trailing
/// empty components dropped. Components have been checked by the caller.
pub(crate) fn composite(components: &[&str]) -> String {
    let used = components
        .iter()
        .rposition(|c| !c.is_empty())
        .map_or(0, |last| last + 1);
    components[..used].join(&COMPONENT.to_string())
}

/// Checks a value the claim supplies: it must not be empty (after trimming) and must not contain
/// any delimiter. `element` names the loop and element for the biller.
pub(crate) fn required<'v>(
    claim: &str,
    element: &str,
    value: &'v str,
) -> Result<&'v str, X12Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(claim, element, "is empty"));
    }
    free_of_delimiters(claim, element, value)
}

/// Like [`required`] for a value that may be absent: `None` or blank gives `None`.
pub(crate) fn optional<'v>(
    claim: &str,
    element: &str,
    value: Option<&'v str>,
) -> Result<Option<&'v str>, X12Error> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => free_of_delimiters(claim, element, value).map(Some),
    }
}

fn free_of_delimiters<'v>(claim: &str, element: &str, value: &'v str) -> Result<&'v str, X12Error> {
    match value
        .chars()
        .find(|c| matches!(*c, ELEMENT | COMPONENT | REPETITION | SEGMENT) || c.is_control())
    {
        Some(c) => Err(invalid(
            claim,
            element,
            &format!("contains the character {c:?}, an X12 delimiter"),
        )),
        None => Ok(value),
    }
}

pub(crate) fn invalid(claim: &str, element: &str, problem: &str) -> X12Error {
    X12Error::InvalidValue {
        claim: claim.to_owned(),
        element: element.to_owned(),
        problem: problem.to_owned(),
    }
}
