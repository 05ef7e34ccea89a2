//! `indra audit verify`: re-computes every organization's audit hash chain from the stored rows.
//!
//! Run it with the database owner's (superuser's) connection: it must see every organization's
//! rows, which row-level security hides from every application role. An admin checks their own
//! organization's chain through their own transaction with [`verify_org_chain_as_caller`].

use futures_util::TryStreamExt;
use indra_rules::audit::chain::{AuditRowFields, ChainBreak, ChainVerifier, StoredRow};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

use crate::Result;

/// The outcome of verifying one organization's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub org_id: Uuid,
    /// Rows verified intact (up to the break, when there is one).
    pub rows: usize,
    /// The first break, or `None` when the whole chain and its head check out.
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    pub fn is_ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Every organization: those in `organizations` by creation, then any that appear only in the
/// audit log or its chain heads (an organization row deleted does not hide its log).
const ORGS_SQL: &str = r#"
with recursive logged(org_id) as (
    (select org_id from audit_log order by org_id limit 1)
    union all
    select (select a.org_id from audit_log a where a.org_id > l.org_id order by a.org_id limit 1)
    from logged l where l.org_id is not null
), orphans as (
    select org_id from logged where org_id is not null
    union
    select org_id from audit_chain_heads
)
select id from (
    select id, created_at from organizations
    union all
    select org_id, null::timestamptz from orphans
    where org_id not in (select id from organizations)
) o
order by created_at nulls last, id
"#;

const ROWS_SQL: &str = r#"
select id::text, org_id::text, seq, table_name, record_id::text, action::text,
       old_data::text, new_data::text, changed_fields::text, patient_id::text,
       actor_user_id::text, actor_role, request_id,
       (extract(epoch from occurred_at) * 1000000)::bigint,
       prev_hash, row_hash
from audit_log
where org_id = $1
order by seq
"#;

/// [`ROWS_SQL`] up to a chain head's `seq` (`$2`).
const ROWS_UP_TO_SQL: &str = r#"
select id::text, org_id::text, seq, table_name, record_id::text, action::text,
       old_data::text, new_data::text, changed_fields::text, patient_id::text,
       actor_user_id::text, actor_role, request_id,
       (extract(epoch from occurred_at) * 1000000)::bigint,
       prev_hash, row_hash
from audit_log
where org_id = $1 and seq <= $2
order by seq
"#;

/// Verifies the audit chain of `org`, or of every organization when `org` is `None`.
///
/// Rows are streamed and checked one at a time, so memory stays flat however long a chain is.
/// Each organization is read in one repeatable-read, read-only transaction, so rows the
/// application appends meanwhile cannot make the head and the rows disagree.
pub async fn verify_audit_chains(pool: &PgPool, org: Option<Uuid>) -> Result<Vec<ChainReport>> {
    let orgs: Vec<Uuid> = match org {
        Some(id) => vec![id],
        None => sqlx::query_scalar(ORGS_SQL).fetch_all(pool).await?,
    };
    let mut reports = Vec::with_capacity(orgs.len());
    for org_id in orgs {
        reports.push(verify_org(pool, org_id).await?);
    }
    Ok(reports)
}

async fn verify_org(pool: &PgPool, org_id: Uuid) -> Result<ChainReport> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;

    let mut verifier = ChainVerifier::new();
    let mut broken = None;
    {
        let mut rows = sqlx::query(ROWS_SQL).bind(org_id).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            if let Err(b) = verifier.push(&stored_row(&row)?) {
                broken = Some(b);
                break;
            }
        }
    }
    let rows = verifier.rows();
    if broken.is_none() {
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("select last_seq, last_hash from audit_chain_heads where org_id = $1")
                .bind(org_id)
                .fetch_optional(&mut *tx)
                .await?;
        broken = verifier
            .finish(head.as_ref().map(|(seq, hash)| (*seq, hash.as_slice())))
            .err();
    }
    tx.rollback().await?;
    Ok(ChainReport {
        org_id,
        rows,
        broken,
    })
}

/// Verifies one organization's chain on a connection whose transaction is already open, such as
/// an admin's request transaction (row-level security lets admins read their own organization's
/// `audit_log` rows and chain head, nothing else).
///
/// That transaction may be READ COMMITTED, where rows committed between two statements become
/// visible to the second. So the head is read first, and the rows up to the head's `seq` are
/// checked against it: rows the application appends meanwhile are left for the next check
/// rather than mistaken for a tampered tail. `indra audit verify`, in one snapshot, also checks
/// rows beyond the head.
pub async fn verify_org_chain_as_caller(
    conn: &mut PgConnection,
    org_id: Uuid,
) -> Result<ChainReport> {
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("select last_seq, last_hash from audit_chain_heads where org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
    let mut verifier = ChainVerifier::new();
    let mut broken = None;
    {
        let mut rows = sqlx::query(ROWS_UP_TO_SQL)
            .bind(org_id)
            // Without a head, every row: rows without a head are a break to report.
            .bind(head.as_ref().map_or(i64::MAX, |(seq, _)| *seq))
            .fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            if let Err(b) = verifier.push(&stored_row(&row)?) {
                broken = Some(b);
                break;
            }
        }
    }
    let rows = verifier.rows();
    if broken.is_none() {
        broken = verifier
            .finish(head.as_ref().map(|(seq, hash)| (*seq, hash.as_slice())))
            .err();
    }
    Ok(ChainReport {
        org_id,
        rows,
        broken,
    })
}

fn stored_row(row: &PgRow) -> Result<StoredRow> {
    Ok(StoredRow {
        id: row.try_get(0)?,
        fields: AuditRowFields {
            org_id: row.try_get(1)?,
            seq: row.try_get(2)?,
            table_name: row.try_get(3)?,
            record_id: row.try_get(4)?,
            action: row.try_get(5)?,
            old_data: row.try_get(6)?,
            new_data: row.try_get(7)?,
            changed_fields: row.try_get(8)?,
            patient_id: row.try_get(9)?,
            actor_user_id: row.try_get(10)?,
            actor_role: row.try_get(11)?,
            request_id: row.try_get(12)?,
            occurred_at_micros: row.try_get(13)?,
        },
        // A NULL hash can only come from tampering; an empty one fails the comparison below it.
        prev_hash: row.try_get::<Option<Vec<u8>>, _>(14)?.unwrap_or_default(),
        row_hash: row.try_get::<Option<Vec<u8>>, _>(15)?.unwrap_or_default(),
    })
}
