//! A table's rows written once, sent twice: as COPY text into the table, and as the audit rows
//! the trigger would have written for them, chunk by chunk, in one transaction.
//!
//! Every column is named as it is written, generated ones included (those go only into the
//! audit row's JSON). Before a table's first chunk is sent, the columns written are compared
//! with the catalog's, so a column added by a later migration stops the load with a message
//! instead of leaving audit rows that do not match their rows.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::audit::{AUDIT_COLUMNS, AuditChain};
use super::copy_text::CopyRows;
use super::jsonb::{self, JsonbObject};

/// Rows per chunk: each chunk is one COPY into the table and one into the audit log, so memory
/// stays bounded (a few megabytes) however large the organization.
const CHUNK_ROWS: usize = 5_000;

/// One audited table being loaded.
pub struct AuditedCopy<'a> {
    table: &'static str,
    chain: &'a mut AuditChain,
    data: CopyRows,
    audit: CopyRows,
    json: JsonbObject,
    /// Columns of the COPY (every column but the generated ones), from the first row.
    columns: Vec<&'static str>,
    first_row_done: bool,
    /// Every column, from the first row's JSON.
    keys: Vec<&'static str>,
    record_id: Option<Uuid>,
    in_chunk: usize,
    checked: bool,
    rows: u64,
    audit_time: Duration,
}

/// What loading one table took.
pub struct Copied {
    pub rows: u64,
    /// Time spent chaining and copying the audit rows.
    pub audit: Duration,
}

impl<'a> AuditedCopy<'a> {
    pub fn new(table: &'static str, chain: &'a mut AuditChain) -> Self {
        Self {
            table,
            chain,
            data: CopyRows::new(),
            audit: CopyRows::new(),
            json: JsonbObject::default(),
            columns: Vec::new(),
            first_row_done: false,
            keys: Vec::new(),
            record_id: None,
            in_chunk: 0,
            checked: false,
            rows: 0,
            audit_time: Duration::ZERO,
        }
    }

    fn column(&mut self, key: &'static str) -> &mut Vec<u8> {
        if !self.first_row_done {
            self.columns.push(key);
        }
        self.json.key(key)
    }

    pub fn uuid(&mut self, key: &'static str, value: Uuid) -> &mut Self {
        if key == "id" {
            self.record_id = Some(value);
        }
        self.data.uuid(value);
        let out = self.column(key);
        let mut tmp = [0u8; uuid::fmt::Hyphenated::LENGTH];
        out.push(b'"');
        out.extend_from_slice(value.hyphenated().encode_lower(&mut tmp).as_bytes());
        out.push(b'"');
        self.json.end_value();
        self
    }

    pub fn opt_uuid(&mut self, key: &'static str, value: Option<Uuid>) -> &mut Self {
        match value {
            Some(v) => self.uuid(key, v),
            None => self.null(key),
        }
    }

    pub fn null(&mut self, key: &'static str) -> &mut Self {
        self.data.null();
        self.column(key).extend_from_slice(b"null");
        self.json.end_value();
        self
    }

    /// Text, citext or an enum's label.
    pub fn text(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.data.text(value);
        jsonb::string(self.column(key), value);
        self.json.end_value();
        self
    }

    pub fn opt_text(&mut self, key: &'static str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(key, v),
            None => self.null(key),
        }
    }

    pub fn int(&mut self, key: &'static str, value: i64) -> &mut Self {
        self.data.int(value);
        self.column(key)
            .extend_from_slice(value.to_string().as_bytes());
        self.json.end_value();
        self
    }

    /// A numeric written as PostgreSQL prints it at the column's scale ("135.00").
    pub fn numeric(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.data.text(value);
        self.column(key).extend_from_slice(value.as_bytes());
        self.json.end_value();
        self
    }

    pub fn opt_numeric(&mut self, key: &'static str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.numeric(key, v),
            None => self.null(key),
        }
    }

    pub fn bool(&mut self, key: &'static str, value: bool) -> &mut Self {
        self.data.bool(value);
        self.column(key)
            .extend_from_slice(if value { b"true" } else { b"false" });
        self.json.end_value();
        self
    }

    pub fn date(&mut self, key: &'static str, value: Date) -> &mut Self {
        self.data.date(value);
        jsonb::date(self.column(key), value);
        self.json.end_value();
        self
    }

    pub fn opt_date(&mut self, key: &'static str, value: Option<Date>) -> &mut Self {
        match value {
            Some(v) => self.date(key, v),
            None => self.null(key),
        }
    }

    pub fn timestamp(&mut self, key: &'static str, value: OffsetDateTime) -> &mut Self {
        self.data.timestamp(value);
        jsonb::timestamp(self.column(key), value);
        self.json.end_value();
        self
    }

    pub fn opt_timestamp(&mut self, key: &'static str, value: Option<OffsetDateTime>) -> &mut Self {
        match value {
            Some(v) => self.timestamp(key, v),
            None => self.null(key),
        }
    }

    pub fn bytea(&mut self, key: &'static str, value: &[u8]) -> &mut Self {
        self.data.bytea(value);
        jsonb::bytea(self.column(key), value);
        self.json.end_value();
        self
    }

    pub fn opt_bytea(&mut self, key: &'static str, value: Option<&[u8]>) -> &mut Self {
        match value {
            Some(v) => self.bytea(key, v),
            None => self.null(key),
        }
    }

    /// A text[] of plain words.
    pub fn words(&mut self, key: &'static str, words: &[&str]) -> &mut Self {
        self.data.word_array(words);
        let out = self.column(key);
        out.push(b'[');
        for (n, word) in words.iter().enumerate() {
            if n > 0 {
                out.extend_from_slice(b", ");
            }
            jsonb::string(out, word);
        }
        out.push(b']');
        self.json.end_value();
        self
    }

    pub fn ints(&mut self, key: &'static str, values: &[i64]) -> &mut Self {
        self.data.int_array(values);
        let out = self.column(key);
        out.push(b'[');
        for (n, value) in values.iter().enumerate() {
            if n > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(value.to_string().as_bytes());
        }
        out.push(b']');
        self.json.end_value();
        self
    }

    /// A jsonb column: sent in jsonb's own text, so the row and its audit row hold the same.
    pub fn jsonb(&mut self, key: &'static str, value: &Value) -> &mut Self {
        let mut text = Vec::new();
        jsonb::value(&mut text, value);
        self.data
            .text(std::str::from_utf8(&text).unwrap_or_default());
        self.column(key).extend_from_slice(&text);
        self.json.end_value();
        self
    }

    /// A generated column: PostgreSQL computes it, the audit row records it.
    pub fn generated(&mut self, key: &'static str, render: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        render(self.json.key(key));
        self.json.end_value();
        self
    }

    /// Ends the row: chains its audit row (about `patient`), and sends the chunk when full.
    pub async fn end_row(
        &mut self,
        conn: &mut PgConnection,
        patient: Option<Uuid>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        if !self.first_row_done {
            self.first_row_done = true;
            self.keys = self.json.keys().collect();
        }
        let new_data = self.json.text();
        self.json.clear();
        self.chain.append(
            &mut self.audit,
            self.table,
            self.record_id.take(),
            patient,
            new_data,
        );
        self.audit_time += started.elapsed();
        self.data.end_row();
        self.rows += 1;
        self.in_chunk += 1;
        if self.in_chunk >= CHUNK_ROWS {
            self.flush(conn).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut PgConnection) -> anyhow::Result<()> {
        if self.in_chunk == 0 {
            return Ok(());
        }
        if !self.checked {
            check_columns(conn, self.table, &self.keys, &self.columns).await?;
            self.checked = true;
        }
        let statement = format!(
            "copy public.{} ({}) from stdin",
            self.table,
            self.columns.join(", ")
        );
        let mut copy = conn.copy_in_raw(&statement).await?;
        copy.send(self.data.take()).await?;
        copy.finish().await?;
        let started = Instant::now();
        let mut copy = conn
            .copy_in_raw(&format!(
                "copy public.audit_log ({AUDIT_COLUMNS}) from stdin"
            ))
            .await?;
        copy.send(self.audit.take()).await?;
        copy.finish().await?;
        self.audit_time += started.elapsed();
        self.in_chunk = 0;
        Ok(())
    }

    /// Sends what is left; returns the rows written and the time their audit rows took.
    pub async fn finish(mut self, conn: &mut PgConnection) -> anyhow::Result<Copied> {
        self.flush(conn).await?;
        Ok(Copied {
            rows: self.rows,
            audit: self.audit_time,
        })
    }
}

/// Refuses to load a table whose columns the loader does not write exactly: its audit rows
/// would not be the rows.
async fn check_columns(
    conn: &mut PgConnection,
    table: &str,
    keys: &[&str],
    copied: &[&str],
) -> anyhow::Result<()> {
    let catalog: Vec<(String, bool)> = sqlx::query_as(
        "select a.attname::text, a.attgenerated <> '' from pg_attribute a
          where a.attrelid = ('public.' || quote_ident($1))::regclass and a.attnum > 0
            and not a.attisdropped order by a.attnum",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut all: Vec<&str> = catalog.iter().map(|(c, _)| c.as_str()).collect();
    let mut stored: Vec<&str> = catalog
        .iter()
        .filter(|(_, generated)| !generated)
        .map(|(c, _)| c.as_str())
        .collect();
    let mut keys = keys.to_vec();
    let mut copied = copied.to_vec();
    for list in [&mut all, &mut stored, &mut keys, &mut copied] {
        list.sort_unstable();
    }
    anyhow::ensure!(
        all == keys && stored == copied,
        "the scale loader writes {table} as ({}) but the table has ({}): update \
         crates/indra-db/src/demo/scale/load.rs for the new schema",
        keys.join(", "),
        all.join(", ")
    );
    Ok(())
}
