//! PostgreSQL's COPY text format, written by hand: fields separated by tabs, rows by
//! newlines, `\N` for NULL, and backslash escapes for backslash, tab, newline and carriage
//! return (<https://www.postgresql.org/docs/15/sql-copy.html>, "Text Format").

use std::fmt::Write as _;

use time::{Date, OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// Rows of one table in COPY text format, built up in memory and sent a chunk at a time.
#[derive(Debug, Default)]
pub struct CopyRows {
    buf: Vec<u8>,
    at_row_start: bool,
}

impl CopyRows {
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(64 * 1024),
            at_row_start: true,
        }
    }

    /// The bytes to send, leaving the buffer empty for the next chunk.
    pub fn take(&mut self) -> Vec<u8> {
        // The next chunk is about as large as this one.
        let capacity = self.buf.len();
        std::mem::replace(&mut self.buf, Vec::with_capacity(capacity))
    }

    fn sep(&mut self) {
        if self.at_row_start {
            self.at_row_start = false;
        } else {
            self.buf.push(b'\t');
        }
    }

    pub fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.at_row_start = true;
    }

    pub fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
        self
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        self.sep();
        escape_into(&mut self.buf, value.as_bytes());
        self
    }

    pub fn uuid(&mut self, value: Uuid) -> &mut Self {
        self.sep();
        let mut tmp = [0u8; uuid::fmt::Hyphenated::LENGTH];
        self.buf
            .extend_from_slice(value.hyphenated().encode_lower(&mut tmp).as_bytes());
        self
    }

    pub fn opt_uuid(&mut self, value: Option<Uuid>) -> &mut Self {
        match value {
            Some(v) => self.uuid(v),
            None => self.null(),
        }
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.sep();
        let _ = write!(Bytes(&mut self.buf), "{value}");
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.sep();
        self.buf.push(if value { b't' } else { b'f' });
        self
    }

    pub fn date(&mut self, value: Date) -> &mut Self {
        self.sep();
        push_date(&mut self.buf, value);
        self
    }

    /// A timestamptz, in UTC with microseconds.
    pub fn timestamp(&mut self, value: OffsetDateTime) -> &mut Self {
        self.sep();
        let at = value.to_offset(UtcOffset::UTC);
        push_date(&mut self.buf, at.date());
        let _ = write!(
            Bytes(&mut self.buf),
            " {:02}:{:02}:{:02}.{:06}+00",
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        );
        self
    }

    /// A bytea, in hex (`\x...`, its backslash escaped for COPY).
    pub fn bytea(&mut self, value: &[u8]) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"\\\\x");
        let mut hex = vec![0u8; value.len() * 2];
        // The buffer is exactly twice the input: encoding cannot fail.
        let _ = hex::encode_to_slice(value, &mut hex);
        self.buf.extend_from_slice(&hex);
        self
    }

    /// A text[] of plain words (no quoting needed: letters, digits, dots).
    pub fn word_array(&mut self, words: &[&str]) -> &mut Self {
        self.sep();
        self.buf.push(b'{');
        for (n, word) in words.iter().enumerate() {
            if n > 0 {
                self.buf.push(b',');
            }
            debug_assert!(word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
            self.buf.extend_from_slice(word.as_bytes());
        }
        self.buf.push(b'}');
        self
    }

    pub fn int_array(&mut self, values: &[i64]) -> &mut Self {
        self.sep();
        self.buf.push(b'{');
        for (n, value) in values.iter().enumerate() {
            if n > 0 {
                self.buf.push(b',');
            }
            let _ = write!(Bytes(&mut self.buf), "{value}");
        }
        self.buf.push(b'}');
        self
    }
}

/// `fmt::Write` into a byte buffer.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn push_date(buf: &mut Vec<u8>, date: Date) {
    let _ = write!(
        Bytes(buf),
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
}

fn escape_into(buf: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_for_copy() {
        let mut rows = CopyRows::new();
        rows.text("a\tb\\c\nd").null().int(-42).bool(true);
        rows.end_row();
        assert_eq!(rows.take(), b"a\\tb\\\\c\\nd\t\\N\t-42\tt\n");
    }

    #[test]
    fn timestamps_are_utc_with_microseconds_and_bytea_is_hex() {
        let mut rows = CopyRows::new();
        rows.timestamp(time::macros::datetime!(2026-03-08 01:30:05.000042 -6))
            .bytea(&[0xab, 0x01])
            .word_array(&["95", "GT"])
            .int_array(&[1, 2]);
        rows.end_row();
        assert_eq!(
            String::from_utf8(rows.take()).unwrap(),
            "2026-03-08 07:30:05.000042+00\t\\\\xab01\t{95,GT}\t{1,2}\n"
        );
    }
}
