//! The audit rows of a bulk load, chained as `app.audit_row` chains them.
//!
//! The load runs with `session_replication_role = replica`, so the audit trigger does not fire.
//! Each row's audit row is written beside it instead ([`super::rows::AuditedCopy`]): its
//! `new_data` is the row as `to_jsonb` renders it ([`super::jsonb`]), and its `row_hash` is
//! computed with the verifier's own payload function ([`indra_rules::audit::chain::row_hash`]),
//! so `indra audit verify` checks these rows exactly as it checks the trigger's. The
//! organization's chain head is written last.

use indra_rules::audit::chain::{AuditRowFields, GENESIS, row_hash};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::copy_text::CopyRows;
use super::plan::{IdKind, scale_id};

/// The tables a scale organization fills, each with one audit row per row, in the order their
/// rows enter the chain: the organization and its people first, then each table after those
/// it refers to.
pub const AUDITED_TABLES: &[&str] = &[
    "organizations",
    "users",
    "providers",
    "insurance_payers",
    "fee_schedule_entries",
    "ai_settings",
    "patients",
    "patient_insurance",
    "patient_diagnoses",
    "appointments",
    "encounters",
    "clinical_notes",
    "note_signatures",
    "billing_claims",
    "claim_diagnoses",
    "claim_line_items",
];

/// The audit log's columns, in the order [`AuditChain::append`] writes them.
pub const AUDIT_COLUMNS: &str = "id, org_id, seq, table_name, record_id, action, old_data, new_data,
    changed_fields, patient_id, actor_user_id, actor_role, request_id, occurred_at, prev_hash, row_hash";

/// One organization's audit chain, as it is being written.
pub struct AuditChain {
    position: u32,
    org_id: Uuid,
    org_text: String,
    seq: i64,
    prev: [u8; 32],
    /// The database role that wrote the rows, as `app.audit_row` records it.
    actor_role: String,
    request_id: String,
    occurred_at: OffsetDateTime,
    occurred_at_micros: i64,
}

impl AuditChain {
    /// A new chain (the organization has no audit rows yet), its rows written at `at`.
    pub fn new(
        position: u32,
        org_id: Uuid,
        actor_role: String,
        request_id: String,
        at: OffsetDateTime,
    ) -> anyhow::Result<Self> {
        // PostgreSQL keeps microseconds: hash the time as it will be stored.
        let at = at.replace_nanosecond(at.microsecond() * 1000)?;
        Ok(Self {
            position,
            org_id,
            org_text: org_id.to_string(),
            seq: 0,
            prev: GENESIS,
            actor_role,
            request_id,
            occurred_at: at,
            occurred_at_micros: (at.unix_timestamp_nanos() / 1000) as i64,
        })
    }

    /// Chains the INSERT of a row of `table` and writes its audit row to `out`.
    pub fn append(
        &mut self,
        out: &mut CopyRows,
        table: &'static str,
        record_id: Option<Uuid>,
        patient_id: Option<Uuid>,
        new_data: String,
    ) {
        self.seq += 1;
        let row = AuditRowFields {
            org_id: self.org_text.clone(),
            seq: self.seq,
            table_name: table.to_owned(),
            record_id: record_id.map(|id| id.to_string()),
            action: "INSERT".to_owned(),
            old_data: None,
            new_data: Some(new_data),
            changed_fields: None,
            patient_id: patient_id.map(|id| id.to_string()),
            actor_user_id: None,
            actor_role: Some(self.actor_role.clone()),
            request_id: Some(self.request_id.clone()),
            occurred_at_micros: self.occurred_at_micros,
        };
        let hash = row_hash(&self.prev, &row);
        out.uuid(scale_id(self.position, IdKind::Audit, self.seq as u64))
            .uuid(self.org_id)
            .int(self.seq)
            .text(table)
            .opt_uuid(record_id)
            .text("INSERT")
            .null()
            .text(row.new_data.as_deref().unwrap_or_default())
            .null()
            .opt_uuid(patient_id)
            .null()
            .text(&self.actor_role)
            .text(&self.request_id)
            .timestamp(self.occurred_at)
            .bytea(&self.prev)
            .bytea(&hash);
        out.end_row();
        self.prev = hash;
    }

    /// Writes the chain head: the anchor `indra audit verify` checks the chain's end against.
    /// Returns the chain's length.
    pub async fn finish(self, conn: &mut PgConnection) -> anyhow::Result<i64> {
        sqlx::query(
            "insert into audit_chain_heads (org_id, last_seq, last_hash) values ($1, $2, $3)",
        )
        .bind(self.org_id)
        .bind(self.seq)
        .bind(&self.prev[..])
        .execute(&mut *conn)
        .await?;
        Ok(self.seq)
    }
}
