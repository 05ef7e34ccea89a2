//! Parsing a licensed CPT descriptor file, for `indra reference import-cpt FILE`.
//!
//! CPT descriptors are the AMA's copyright, so Indra ships only its own short labels; a practice
//! holding a licence loads the descriptors from its own file. The accepted format:
//!
//! - UTF-8 text (a leading byte-order mark is ignored), one record per line;
//! - a header row `code,descriptor` (comma-separated) or `code<TAB>descriptor` (tab-separated),
//!   which also chooses the separator;
//! - comma-separated fields may be quoted with `"` (a `"` inside is doubled: `""`), so a descriptor
//!   may contain commas; tab-separated fields are taken as they are;
//! - blank lines are skipped; every other line has exactly a code (five characters, four digits
//!   then a digit or letter) and a non-empty descriptor.
//!
//! The parser checks the file's shape only; whether Indra knows a code is the database's answer.

use std::collections::HashMap;

/// The longest descriptor accepted; the AMA's long descriptors stay well below it.
pub const MAX_DESCRIPTOR_CHARS: usize = 2000;

/// One good row: the code, its descriptor, and the 1-based line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CptDescriptor {
    pub line: usize,
    pub code: String,
    pub descriptor: String,
}

/// A row that cannot be imported, with its 1-based line number and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: usize,
    pub reason: String,
}

/// What a file holds: its good rows and its bad ones (an import goes ahead only without bad rows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescriptorFile {
    pub rows: Vec<CptDescriptor>,
    pub bad_rows: Vec<BadRow>,
}

/// The file as a whole is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorFileError {
    #[error("the file is empty; expected a header row `code,descriptor`")]
    Empty,
    #[error("line 1: expected the header row `code,descriptor` (or tab-separated), found {0:?}")]
    BadHeader(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Separator {
    Comma,
    Tab,
}

/// Parse a descriptor file's text (see the module documentation for the format).
pub fn parse_descriptor_file(text: &str) -> Result<DescriptorFile, DescriptorFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, header) = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or(DescriptorFileError::Empty)?;
    let separator = header_separator(header)
        .ok_or_else(|| DescriptorFileError::BadHeader(header.chars().take(80).collect()))?;

    let mut file = DescriptorFile::default();
    // The first line each code appeared on: a second descriptor for one code is ambiguous.
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (line, raw) in lines {
        if raw.trim().is_empty() {
            continue;
        }
        match parse_row(raw, separator) {
            Ok((code, descriptor)) => {
                if let Some(first) = first_line.get(&code) {
                    file.bad_rows.push(BadRow {
                        line,
                        reason: format!("code {code} appears again (first on line {first})"),
                    });
                } else {
                    first_line.insert(code.clone(), line);
                    file.rows.push(CptDescriptor {
                        line,
                        code,
                        descriptor,
                    });
                }
            }
            Err(reason) => file.bad_rows.push(BadRow { line, reason }),
        }
    }
    Ok(file)
}

fn header_separator(header: &str) -> Option<Separator> {
    let separator = if header.contains('\t') {
        Separator::Tab
    } else {
        Separator::Comma
    };
    let fields = split(header, separator).ok()?;
    let names: Vec<String> = fields.iter().map(|f| f.trim().to_lowercase()).collect();
    (names == ["code", "descriptor"]).then_some(separator)
}

fn parse_row(raw: &str, separator: Separator) -> Result<(String, String), String> {
    let fields = split(raw, separator)?;
    let [code, descriptor] = fields.as_slice() else {
        return Err(format!(
            "expected 2 fields (code, descriptor), found {}",
            fields.len()
        ));
    };
    let code = code.trim();
    if !is_cpt_code(code) {
        return Err(format!(
            "{:?} is not a CPT code (four digits, then a digit or letter)",
            code.chars().take(20).collect::<String>()
        ));
    }
    let descriptor = descriptor.trim();
    if descriptor.is_empty() {
        return Err(format!("code {code} has an empty descriptor"));
    }
    if descriptor.chars().count() > MAX_DESCRIPTOR_CHARS {
        return Err(format!(
            "code {code}: the descriptor is longer than {MAX_DESCRIPTOR_CHARS} characters"
        ));
    }
    if descriptor.chars().any(char::is_control) {
        return Err(format!(
            "code {code}: the descriptor has a control character"
        ));
    }
    Ok((code.to_owned(), descriptor.to_owned()))
}

/// The shape `cpt_codes.code` accepts (migration 0002): `^[0-9]{4}[0-9A-Z]$`.
fn is_cpt_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && b[..4].iter().all(u8::is_ascii_digit)
        && (b[4].is_ascii_digit() || b[4].is_ascii_uppercase())
}

/// Split one line into fields: tab-separated as is, comma-separated with `"` quoting.
fn split(line: &str, separator: Separator) -> Result<Vec<String>, String> {
    if separator == Separator::Tab {
        return Ok(line.split('\t').map(str::to_owned).collect());
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    loop {
        // A field is quoted when its first non-blank character is a quote.
        let quoted = field.trim().is_empty() && chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            field.clear();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".to_owned()),
                }
            }
            // After the closing quote only blanks may come before the separator.
            loop {
                match chars.peek() {
                    Some(',') | None => break,
                    Some(c) if c.is_whitespace() => {
                        chars.next();
                    }
                    Some(_) => return Err("text after a closing quote".to_owned()),
                }
            }
        }
        match chars.next() {
            Some(',') => fields.push(std::mem::take(&mut field)),
            None => {
                fields.push(field);
                return Ok(fields);
            }
            Some('"') if !quoted => return Err("a quote inside an unquoted field".to_owned()),
            Some(c) => field.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: usize, code: &str, descriptor: &str) -> CptDescriptor {
        CptDescriptor {
            line,
            code: code.to_owned(),
            descriptor: descriptor.to_owned(),
        }
    }

    #[test]
    fn reads_comma_separated_rows_with_quoted_commas_and_quotes() {
        let file = parse_descriptor_file(
            "\u{feff}Code,Descriptor\r\n90834,Psychotherapy 45 min\r\n\r\n\
             90837,\"Psychotherapy, 60 minutes, \"\"with patient\"\"\"\n",
        )
        .unwrap();
        assert_eq!(
            file.rows,
            vec![
                row(2, "90834", "Psychotherapy 45 min"),
                row(4, "90837", "Psychotherapy, 60 minutes, \"with patient\""),
            ]
        );
        assert!(file.bad_rows.is_empty());
    }

    #[test]
    fn reads_tab_separated_rows_with_commas_inside() {
        let file = parse_descriptor_file("code\tdescriptor\n90791\tEval, psychiatric\n").unwrap();
        assert_eq!(file.rows, vec![row(2, "90791", "Eval, psychiatric")]);
    }

    #[test]
    fn reports_bad_rows_with_their_line_numbers() {
        let file = parse_descriptor_file(
            "code,descriptor\n9083,short code\n90834\n90837,\n90832,ok,extra\n\
             90839,\"open quote\n90840,fine\n90840,again\n99213,a \"quote\" inside\n",
        )
        .unwrap();
        assert_eq!(file.rows, vec![row(7, "90840", "fine")]);
        let lines: Vec<usize> = file.bad_rows.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 8, 9]);
        assert!(file.bad_rows[0].reason.contains("not a CPT code"));
        assert!(file.bad_rows[1].reason.contains("found 1"));
        assert!(file.bad_rows[2].reason.contains("empty descriptor"));
        assert!(file.bad_rows[3].reason.contains("found 3"));
        assert!(file.bad_rows[4].reason.contains("not closed"));
        assert!(file.bad_rows[5].reason.contains("first on line 7"));
        assert!(file.bad_rows[6].reason.contains("quote inside"));
    }

    #[test]
    fn lowercase_letters_and_overlong_descriptors_are_refused() {
        let long = "x".repeat(MAX_DESCRIPTOR_CHARS + 1);
        let file = parse_descriptor_file(&format!(
            "code,descriptor\n0001f,x\n0001F,{long}\n0001F,ok\n"
        ))
        .unwrap();
        assert_eq!(file.rows, vec![row(4, "0001F", "ok")]);
        assert_eq!(file.bad_rows.len(), 2);
    }

    #[test]
    fn the_header_is_required() {
        assert_eq!(parse_descriptor_file(""), Err(DescriptorFileError::Empty));
        assert!(matches!(
            parse_descriptor_file("90834,Psychotherapy\n"),
            Err(DescriptorFileError::BadHeader(_))
        ));
        assert!(matches!(
            parse_descriptor_file("code,label\n"),
            Err(DescriptorFileError::BadHeader(_))
        ));
    }
}
