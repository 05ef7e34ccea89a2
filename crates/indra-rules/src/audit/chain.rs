//! The audit log's hash chain.
//!
//! Every row of `audit_log` carries `row_hash = SHA-256(prev_hash || payload)`, where `prev_hash`
//! is the previous row's `row_hash` in the same organization (32 zero bytes for `seq` 1) and the
//! payload is a canonical text encoding of the row. `audit_chain_heads` remembers each
//! organization's last `seq` and hash, so removing rows from the end is detected too.
//!
//! The database trigger that writes the log computes exactly the same payload; this module is the
//! independent re-computation that `indra audit verify` runs. Change both together or not at all.
//!
//! Payload: thirteen fields in a fixed order, each written as `<length>:<value>|` where `<length>`
//! is the value's length in UTF-8 bytes in decimal, or as `~|` when the value is NULL. The
//! length prefix makes the encoding unambiguous whatever the values contain.

use std::fmt;

use sha2::{Digest, Sha256};

/// The `prev_hash` of an organization's first audit row (`seq` 1).
pub const GENESIS: [u8; 32] = [0; 32];

/// One audit row's hashed fields, each in the text form PostgreSQL gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRowFields {
    /// `org_id::text`, lowercase hyphenated.
    pub org_id: String,
    /// Position in the organization's chain: 1, 2, 3, ...
    pub seq: i64,
    pub table_name: String,
    /// `record_id::text`.
    pub record_id: Option<String>,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub action: String,
    /// `old_data::text` (jsonb's canonical text form).
    pub old_data: Option<String>,
    /// `new_data::text` (jsonb's canonical text form).
    pub new_data: Option<String>,
    /// `changed_fields::text`, PostgreSQL array text such as `{a,b}`.
    pub changed_fields: Option<String>,
    /// `patient_id::text`.
    pub patient_id: Option<String>,
    /// `actor_user_id::text`.
    pub actor_user_id: Option<String>,
    pub actor_role: Option<String>,
    pub request_id: Option<String>,
    /// `occurred_at` as whole microseconds since the Unix epoch.
    pub occurred_at_micros: i64,
}

/// The canonical text of a row that its hash covers (see the module documentation).
pub fn payload(fields: &AuditRowFields) -> String {
    fn put(out: &mut String, value: Option<&str>) {
        match value {
            Some(v) => {
                out.push_str(&v.len().to_string());
                out.push(':');
                out.push_str(v);
                out.push('|');
            }
            None => out.push_str("~|"),
        }
    }
    let seq = fields.seq.to_string();
    let occurred_at = fields.occurred_at_micros.to_string();
    let mut out = String::with_capacity(
        256 + fields.old_data.as_ref().map_or(0, String::len)
            + fields.new_data.as_ref().map_or(0, String::len),
    );
    for value in [
        Some(fields.org_id.as_str()),
        Some(seq.as_str()),
        Some(fields.table_name.as_str()),
        fields.record_id.as_deref(),
        Some(fields.action.as_str()),
        fields.old_data.as_deref(),
        fields.new_data.as_deref(),
        fields.changed_fields.as_deref(),
        fields.patient_id.as_deref(),
        fields.actor_user_id.as_deref(),
        fields.actor_role.as_deref(),
        fields.request_id.as_deref(),
        Some(occurred_at.as_str()),
    ] {
        put(&mut out, value);
    }
    out
}

/// `SHA-256(prev || payload(fields))`: the hash a row must carry given its predecessor's.
pub fn row_hash(prev: &[u8; 32], fields: &AuditRowFields) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(payload(fields).as_bytes());
    hasher.finalize().into()
}

/// An audit row as stored: its fields and the two hashes it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    /// `audit_log.id`, to name the row in a report.
    pub id: String,
    pub fields: AuditRowFields,
    /// Stored `prev_hash`; any length, since a tampered row may hold anything.
    pub prev_hash: Vec<u8>,
    /// Stored `row_hash`; any length, since a tampered row may hold anything.
    pub row_hash: Vec<u8>,
}

/// How a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The row's contents no longer hash to its stored `row_hash`: it was edited.
    Altered,
    /// `seq` skips ahead: the row(s) before this one were removed.
    Missing,
    /// The row's stored `prev_hash` is not the previous row's stored `row_hash` (or `seq` does not
    /// increase): rows were reordered, replaced or re-hashed.
    OutOfOrder,
    /// The chain head records a later `seq` than the last row present, or the same `seq` with a
    /// different hash: rows were removed (or replaced) at the end.
    TailTruncated,
    /// Rows exist but the chain head is missing, or records an earlier `seq` than the last row:
    /// rows were written, or the head rewound, outside the audit trigger.
    HeadMismatch,
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakKind::Altered => "row altered: its contents do not match its row_hash",
            BreakKind::Missing => "rows missing before this one: seq skips ahead",
            BreakKind::OutOfOrder => {
                "out of order: prev_hash does not match the previous row's row_hash"
            }
            BreakKind::TailTruncated => {
                "tail truncated: the chain head records rows that are not present"
            }
            BreakKind::HeadMismatch => {
                "head mismatch: the chain head is missing or behind the last row"
            }
        })
    }
}

/// The first place an organization's audit chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ChainBreak {
    /// The `seq` of the first bad row (for a truncated tail: the first missing `seq`).
    pub seq: i64,
    /// The bad row's id, when the row is present.
    pub id: Option<String>,
    pub kind: BreakKind,
}

impl ChainBreak {
    fn describe(&self) -> String {
        match &self.id {
            Some(id) => format!("seq {} (id {id}): {}", self.seq, self.kind),
            None => format!("seq {}: {}", self.seq, self.kind),
        }
    }
}

/// Verifies one organization's chain a row at a time, so a chain of millions of rows can be
/// checked while streaming it from the database.
///
/// Feed rows in ascending `seq` with [`push`](Self::push), then compare against the chain head
/// with [`finish`](Self::finish). Stop at the first error: later rows are not meaningful after it.
#[derive(Debug, Clone, Default)]
pub struct ChainVerifier {
    /// `seq` and stored `row_hash` of the last row accepted.
    last: Option<(i64, Vec<u8>)>,
    rows: usize,
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows accepted so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Checks the next row against the previous one and its own contents.
    pub fn push(&mut self, row: &StoredRow) -> Result<(), ChainBreak> {
        let seq = row.fields.seq;
        let fail = |kind| ChainBreak {
            seq,
            id: Some(row.id.clone()),
            kind,
        };
        let (expected_seq, expected_prev): (i64, &[u8]) = match &self.last {
            None => (1, &GENESIS),
            Some((last_seq, last_hash)) => (last_seq.saturating_add(1), last_hash),
        };
        if seq > expected_seq {
            return Err(fail(BreakKind::Missing));
        }
        if seq < expected_seq || row.prev_hash != expected_prev {
            return Err(fail(BreakKind::OutOfOrder));
        }
        let prev: [u8; 32] = row.prev_hash.as_slice().try_into().unwrap_or(GENESIS);
        if row_hash(&prev, &row.fields).as_slice() != row.row_hash.as_slice() {
            return Err(fail(BreakKind::Altered));
        }
        self.last = Some((seq, row.row_hash.clone()));
        self.rows += 1;
        Ok(())
    }

    /// Compares the rows seen with the chain head (`audit_chain_heads.last_seq`, `last_hash`),
    /// returning the number of rows verified.
    pub fn finish(self, head: Option<(i64, &[u8])>) -> Result<usize, ChainBreak> {
        match (self.last, head) {
            (None, None) => Ok(0),
            (None, Some((0, _))) => Ok(0),
            (None, Some(_)) => Err(ChainBreak {
                seq: 1,
                id: None,
                kind: BreakKind::TailTruncated,
            }),
            (Some((last_seq, _)), None) => Err(ChainBreak {
                seq: last_seq,
                id: None,
                kind: BreakKind::HeadMismatch,
            }),
            (Some((last_seq, last_hash)), Some((head_seq, head_hash))) => {
                if head_seq > last_seq || (head_seq == last_seq && head_hash != last_hash) {
                    let seq = if head_seq > last_seq {
                        last_seq + 1
                    } else {
                        last_seq
                    };
                    Err(ChainBreak {
                        seq,
                        id: None,
                        kind: BreakKind::TailTruncated,
                    })
                } else if head_seq < last_seq {
                    Err(ChainBreak {
                        seq: head_seq + 1,
                        id: None,
                        kind: BreakKind::HeadMismatch,
                    })
                } else {
                    Ok(self.rows)
                }
            }
        }
    }
}

/// Verifies a whole chain held in memory: `rows` sorted by `seq`, `head` from
/// `audit_chain_heads`. Returns the number of rows verified or the first break.
pub fn verify_chain(
    rows: &[StoredRow],
    head: Option<(i64, [u8; 32])>,
) -> Result<usize, ChainBreak> {
    let mut verifier = ChainVerifier::new();
    for row in rows {
        verifier.push(row)?;
    }
    verifier.finish(head.as_ref().map(|(seq, hash)| (*seq, hash.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "0a1b2c3d-0000-4000-8000-000000000001";

    fn fields(seq: i64) -> AuditRowFields {
        AuditRowFields {
            org_id: ORG.to_owned(),
            seq,
            table_name: "patients".to_owned(),
            record_id: Some(format!("00000000-0000-4000-8000-{seq:012}")),
            action: if seq == 1 { "INSERT" } else { "UPDATE" }.to_owned(),
            old_data: (seq > 1).then(|| format!(r#"{{"name": "Ann", "v": {}}}"#, seq - 1)),
            new_data: Some(format!(r#"{{"name": "Ann", "v": {seq}}}"#)),
            changed_fields: (seq > 1).then(|| "{v}".to_owned()),
            patient_id: Some("00000000-0000-4000-8000-00000000000a".to_owned()),
            actor_user_id: None,
            actor_role: Some("clinician".to_owned()),
            request_id: None,
            occurred_at_micros: 1_767_225_600_000_000 + seq,
        }
    }

    /// A correctly hashed chain of `n` rows and its head.
    fn chain(n: i64) -> (Vec<StoredRow>, Option<(i64, [u8; 32])>) {
        let mut prev = GENESIS;
        let mut rows = Vec::new();
        for seq in 1..=n {
            let f = fields(seq);
            let hash = row_hash(&prev, &f);
            rows.push(StoredRow {
                id: format!("row-{seq}"),
                fields: f,
                prev_hash: prev.to_vec(),
                row_hash: hash.to_vec(),
            });
            prev = hash;
        }
        let head = (n > 0).then_some((n, prev));
        (rows, head)
    }

    fn brk(seq: i64, id: Option<&str>, kind: BreakKind) -> Result<usize, ChainBreak> {
        Err(ChainBreak {
            seq,
            id: id.map(str::to_owned),
            kind,
        })
    }

    #[test]
    fn payload_encodes_lengths_and_nulls() {
        let f = AuditRowFields {
            org_id: ORG.to_owned(),
            seq: 12,
            table_name: "notes".to_owned(),
            record_id: None,
            action: "DELETE".to_owned(),
            old_data: Some(r#"{"a": "é|"}"#.to_owned()),
            new_data: None,
            changed_fields: Some("{a,b}".to_owned()),
            patient_id: None,
            actor_user_id: None,
            actor_role: Some(String::new()),
            request_id: None,
            occurred_at_micros: -1,
        };
        assert_eq!(
            payload(&f),
            format!(
                "36:{ORG}|2:12|5:notes|~|6:DELETE|12:{{\"a\": \"é|\"}}|~|5:{{a,b}}|~|~|0:|~|2:-1|"
            )
        );
    }

    #[test]
    fn row_hash_is_sha256_of_prev_and_payload() {
        let f = fields(1);
        let mut input = GENESIS.to_vec();
        input.extend_from_slice(payload(&f).as_bytes());
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(row_hash(&GENESIS, &f), expected);
        // A fixed vector, so a change to the encoding cannot go unnoticed (the SQL trigger must
        // produce the same; see migrations).
        let empty = AuditRowFields {
            org_id: String::new(),
            seq: 1,
            table_name: String::new(),
            record_id: None,
            action: String::new(),
            old_data: None,
            new_data: None,
            changed_fields: None,
            patient_id: None,
            actor_user_id: None,
            actor_role: None,
            request_id: None,
            occurred_at_micros: 0,
        };
        assert_eq!(payload(&empty), "0:|1:1|0:|~|0:|~|~|~|~|~|~|~|1:0|");
        assert_eq!(
            hex::encode(row_hash(&GENESIS, &empty)),
            "c17f842e549f895ff6fab90b87e0e23ed3921d3656b5812e45041184aa192930"
        );
    }

    #[test]
    fn intact_chains_verify() {
        for n in [0, 1, 2, 10] {
            let (rows, head) = chain(n);
            assert_eq!(verify_chain(&rows, head), Ok(n as usize), "n={n}");
        }
        // An organization whose head was created but never advanced.
        assert_eq!(verify_chain(&[], Some((0, GENESIS))), Ok(0));
    }

    #[test]
    fn detects_an_altered_row() {
        let (mut rows, head) = chain(5);
        rows[2].fields.new_data = Some(r#"{"name": "Bob", "v": 3}"#.to_owned());
        assert_eq!(
            verify_chain(&rows, head),
            brk(3, Some("row-3"), BreakKind::Altered)
        );

        let (mut rows, head) = chain(5);
        rows[0].fields.occurred_at_micros += 1;
        assert_eq!(
            verify_chain(&rows, head),
            brk(1, Some("row-1"), BreakKind::Altered)
        );

        let (mut rows, head) = chain(5);
        rows[4].row_hash.truncate(31);
        assert_eq!(
            verify_chain(&rows, head),
            brk(5, Some("row-5"), BreakKind::Altered)
        );
    }

    #[test]
    fn detects_an_altered_row_that_was_rehashed() {
        // Editing a row and recomputing its own hash breaks the link to the next row.
        let (mut rows, head) = chain(5);
        rows[1].fields.actor_role = Some("admin".to_owned());
        let prev: [u8; 32] = rows[1].prev_hash.as_slice().try_into().unwrap();
        rows[1].row_hash = row_hash(&prev, &rows[1].fields).to_vec();
        assert_eq!(
            verify_chain(&rows, head),
            brk(3, Some("row-3"), BreakKind::OutOfOrder)
        );
    }

    #[test]
    fn detects_missing_rows() {
        let (mut rows, head) = chain(5);
        rows.remove(2);
        assert_eq!(
            verify_chain(&rows, head),
            brk(4, Some("row-4"), BreakKind::Missing)
        );

        let (mut rows, head) = chain(5);
        rows.remove(0);
        assert_eq!(
            verify_chain(&rows, head),
            brk(2, Some("row-2"), BreakKind::Missing)
        );
    }

    #[test]
    fn detects_rows_out_of_order() {
        // Two rows swapped, seq renumbered to look contiguous.
        let (mut rows, head) = chain(5);
        rows.swap(1, 2);
        rows[1].fields.seq = 2;
        rows[2].fields.seq = 3;
        assert_eq!(
            verify_chain(&rows, head),
            brk(2, Some("row-3"), BreakKind::OutOfOrder)
        );

        // A duplicated seq.
        let (mut rows, head) = chain(3);
        let dup = rows[1].clone();
        rows.insert(2, dup);
        assert_eq!(
            verify_chain(&rows, head),
            brk(2, Some("row-2"), BreakKind::OutOfOrder)
        );

        // A first row that does not start from the genesis hash.
        let (mut rows, head) = chain(2);
        rows[0].prev_hash = vec![1; 32];
        assert_eq!(
            verify_chain(&rows, head),
            brk(1, Some("row-1"), BreakKind::OutOfOrder)
        );
    }

    #[test]
    fn detects_a_truncated_tail() {
        let (mut rows, head) = chain(5);
        rows.truncate(3);
        assert_eq!(
            verify_chain(&rows, head),
            brk(4, None, BreakKind::TailTruncated)
        );

        let (_, head) = chain(5);
        assert_eq!(
            verify_chain(&[], head),
            brk(1, None, BreakKind::TailTruncated)
        );

        // Last row deleted and a different, correctly hashed row put in its place.
        let (mut rows, head) = chain(5);
        rows[4].fields.request_id = Some("forged".to_owned());
        let prev: [u8; 32] = rows[4].prev_hash.as_slice().try_into().unwrap();
        rows[4].row_hash = row_hash(&prev, &rows[4].fields).to_vec();
        assert_eq!(
            verify_chain(&rows, head),
            brk(5, None, BreakKind::TailTruncated)
        );
    }

    #[test]
    fn detects_a_missing_or_stale_head() {
        let (rows, _) = chain(3);
        assert_eq!(
            verify_chain(&rows, None),
            brk(3, None, BreakKind::HeadMismatch)
        );

        let (rows, _) = chain(3);
        let (_, stale) = chain(2);
        assert_eq!(
            verify_chain(&rows, stale),
            brk(3, None, BreakKind::HeadMismatch)
        );
    }

    #[test]
    fn incremental_verifier_counts_rows() {
        let (rows, head) = chain(4);
        let mut verifier = ChainVerifier::new();
        for (i, row) in rows.iter().enumerate() {
            verifier.push(row).unwrap();
            assert_eq!(verifier.rows(), i + 1);
        }
        let (seq, hash) = head.unwrap();
        assert_eq!(verifier.finish(Some((seq, &hash))), Ok(4));
    }

    #[test]
    fn breaks_read_well() {
        let b = ChainBreak {
            seq: 7,
            id: Some("abc".to_owned()),
            kind: BreakKind::Missing,
        };
        assert_eq!(
            b.to_string(),
            "seq 7 (id abc): rows missing before this one: seq skips ahead"
        );
    }
}
