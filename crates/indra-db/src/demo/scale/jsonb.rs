//! Rows as PostgreSQL's `to_jsonb(row)::text` writes them, without asking PostgreSQL.
//!
//! The audit trigger records `to_jsonb(new)`, and `indra audit verify` hashes the stored jsonb's
//! text. So an audit row written here must carry exactly the text jsonb itself produces: keys
//! ordered by length, then bytewise; `", "` and `": "` between items; strings escaped as
//! PostgreSQL's `escape_json` does; timestamps as `to_jsonb` renders them in the UTC session
//! sqlx opens (`2026-11-25T15:04:05.5+00:00`, fraction without trailing zeros). tests/demo_scale.rs
//! compares every audit row with `to_jsonb` of the row as stored.

use std::fmt::Write as _;

use serde_json::Value;
use time::{Date, OffsetDateTime, UtcOffset};

/// One row being written as a jsonb object: values rendered as they come, keys put in jsonb's
/// order at the end.
#[derive(Debug, Default)]
pub struct JsonbObject {
    entries: Vec<(&'static str, usize, usize)>,
    values: Vec<u8>,
}

impl JsonbObject {
    pub fn clear(&mut self) {
        self.entries.clear();
        self.values.clear();
    }

    /// Starts the value of `key`; the caller writes it into the returned buffer.
    pub fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        let start = self.values.len();
        self.entries.push((key, start, start));
        &mut self.values
    }

    /// Ends the value started by [`key`](Self::key).
    pub fn end_value(&mut self) {
        if let Some(last) = self.entries.last_mut() {
            last.2 = self.values.len();
        }
    }

    /// The keys written, in the order they were written.
    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|(k, _, _)| *k)
    }

    /// The object's text, as jsonb prints it.
    pub fn text(&mut self) -> String {
        self.entries
            .sort_unstable_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
        let mut out = Vec::with_capacity(self.values.len() + self.entries.len() * 24 + 2);
        out.push(b'{');
        for (n, (key, start, end)) in self.entries.iter().enumerate() {
            if n > 0 {
                out.extend_from_slice(b", ");
            }
            // Column names need no escaping.
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\": ");
            out.extend_from_slice(&self.values[*start..*end]);
        }
        out.push(b'}');
        // Built from &str pieces only.
        String::from_utf8(out).unwrap_or_default()
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

/// A JSON string, escaped as PostgreSQL's `escape_json` escapes it.
pub fn string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    for &b in value.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 => {
                let _ = write!(Bytes(out), "\\u{:04x}", b);
            }
            b => out.push(b),
        }
    }
    out.push(b'"');
}

pub fn date(out: &mut Vec<u8>, value: Date) {
    let _ = write!(
        Bytes(out),
        "\"{:04}-{:02}-{:02}\"",
        value.year(),
        u8::from(value.month()),
        value.day()
    );
}

/// The date, time and fraction of `at` in UTC: `2026-11-25{sep}15:04:05[.5]`.
fn date_time(out: &mut Vec<u8>, at: OffsetDateTime, separator: char) {
    let at = at.to_offset(UtcOffset::UTC);
    let _ = write!(
        Bytes(out),
        "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let micros = at.microsecond();
    if micros > 0 {
        let fraction = format!("{micros:06}");
        let _ = write!(Bytes(out), ".{}", fraction.trim_end_matches('0'));
    }
}

/// A timestamptz as `to_jsonb` renders it: `"2026-11-25T15:04:05.5+00:00"`.
pub fn timestamp(out: &mut Vec<u8>, at: OffsetDateTime) {
    out.push(b'"');
    date_time(out, at, 'T');
    out.extend_from_slice(b"+00:00\"");
}

/// A `[from, to)` tstzrange as `to_jsonb` renders it: its text form (`["2026-11-25
/// 15:00:00+00","2026-11-25 15:53:00+00")`) as a JSON string.
pub fn time_range(out: &mut Vec<u8>, from: OffsetDateTime, to: OffsetDateTime) {
    let mut text = Vec::with_capacity(56);
    text.extend_from_slice(b"[\"");
    date_time(&mut text, from, ' ');
    text.extend_from_slice(b"+00\",\"");
    date_time(&mut text, to, ' ');
    text.extend_from_slice(b"+00\")");
    string(out, std::str::from_utf8(&text).unwrap_or_default());
}

/// A bytea as `to_jsonb` renders it: `"\\xab01"`.
pub fn bytea(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(b"\"\\\\x");
    let mut hex = vec![0u8; value.len() * 2];
    // The buffer is exactly twice the input: encoding cannot fail.
    let _ = hex::encode_to_slice(value, &mut hex);
    out.extend_from_slice(&hex);
    out.push(b'"');
}

/// Any JSON value in jsonb's canonical text (for jsonb columns such as a note's content).
pub fn value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // Integers only in the scale data: jsonb prints those as written.
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.extend_from_slice(b", ");
                }
                self::value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
            out.push(b'{');
            for (n, key) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.extend_from_slice(b", ");
                }
                string(out, key);
                out.extend_from_slice(b": ");
                self::value(out, &map[key]);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    // The expected texts are what PostgreSQL 15 printed for
    // `select to_jsonb(t) from (select ...) t` with the same values.
    #[test]
    fn values_render_as_postgresql_renders_them() {
        let at = time::macros::datetime!(2026-11-25 10:00:00.5 UTC);
        assert_eq!(
            rendered(|o| timestamp(o, at)),
            r#""2026-11-25T10:00:00.5+00:00""#
        );
        let whole = time::macros::datetime!(2026-11-25 05:00 -5);
        assert_eq!(
            rendered(|o| timestamp(o, whole)),
            r#""2026-11-25T10:00:00+00:00""#
        );
        let micros = time::macros::datetime!(2026-11-25 10:00:00.123456 UTC);
        assert_eq!(
            rendered(|o| timestamp(o, micros)),
            r#""2026-11-25T10:00:00.123456+00:00""#
        );
        assert_eq!(rendered(|o| bytea(o, &[0xab, 0x01])), r#""\\xab01""#);
        assert_eq!(
            rendered(|o| time_range(o, whole, whole + time::Duration::minutes(53))),
            r#""[\"2026-11-25 10:00:00+00\",\"2026-11-25 10:53:00+00\")""#
        );
        assert_eq!(
            rendered(|o| string(o, "a\"b\\c\n\u{1}é/")),
            r#""a\"b\\c\n\u0001é/""#
        );
        assert_eq!(
            rendered(|o| date(o, time::macros::date!(2026 - 01 - 02))),
            r#""2026-01-02""#
        );
    }

    #[test]
    fn keys_go_by_length_then_bytes() {
        let mut object = JsonbObject::default();
        for (key, v) in [
            ("plan", "p"),
            ("data", "d"),
            ("assessment", "a"),
            ("id", "i"),
        ] {
            string(object.key(key), v);
            object.end_value();
        }
        assert_eq!(
            object.text(),
            r#"{"id": "i", "data": "d", "plan": "p", "assessment": "a"}"#
        );
        assert_eq!(
            rendered(|o| value(o, &json!({"plan": "p", "data": ["x", 1], "ab": null}))),
            r#"{"ab": null, "data": ["x", 1], "plan": "p"}"#
        );
    }
}
