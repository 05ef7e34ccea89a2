//! 837P export: ready claims out as one X12 file, stored as sent, the claims submitted.

use indra_rules::billing::claim_document::Cents;
use indra_rules::x12::{Envelope837, write_837p};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use time::PrimitiveDateTime;
use uuid::Uuid;

use super::BillingError;
use super::load_claim_documents;

/// Who sends the file and to whom: the practice's clearinghouse settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// The practice's submitter id at the clearinghouse (ISA06, GS02).
    pub sender_id: String,
    /// The clearinghouse's id (ISA08, GS03).
    pub receiver_id: String,
    pub submitter_name: String,
    pub submitter_contact_name: String,
    /// Digits only.
    pub submitter_contact_phone: String,
    pub receiver_name: String,
    /// ISA15: production (P) or test (T) data.
    pub production: bool,
}

/// The envelope as a practice configures it (the server's and the CLI's `INDRA_X12_*`); what is
/// left unset comes from the organization's own record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeConfig {
    pub submitter_id: String,
    /// The practice's name when unset.
    pub submitter_name: Option<String>,
    pub contact_name: String,
    /// The practice's phone when unset; only its digits are sent.
    pub contact_phone: Option<String>,
    pub receiver_id: String,
    pub receiver_name: String,
    pub production: bool,
}

impl ExportSettings {
    /// The settings of an export for `org_id`: the configuration, completed from the
    /// organization's name and phone (read as the caller, so under its row-level security).
    pub async fn for_organization(
        conn: &mut PgConnection,
        org_id: Uuid,
        config: &EnvelopeConfig,
    ) -> Result<ExportSettings, sqlx::Error> {
        let (name, phone): (String, Option<String>) =
            sqlx::query_as("select name, phone from organizations where id = $1")
                .bind(org_id)
                .fetch_one(&mut *conn)
                .await?;
        let phone: String = config
            .contact_phone
            .clone()
            .or(phone)
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        Ok(ExportSettings {
            sender_id: config.submitter_id.clone(),
            receiver_id: config.receiver_id.clone(),
            submitter_name: config.submitter_name.clone().unwrap_or(name),
            submitter_contact_name: config.contact_name.clone(),
            submitter_contact_phone: phone,
            receiver_name: config.receiver_name.clone(),
            production: config.production,
        })
    }
}

/// An 837P file as stored in `claim_exports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimExport {
    pub id: Uuid,
    pub interchange_control_number: u32,
    pub group_control_number: u32,
    pub file_name: String,
    /// The X12 text exactly as stored and sent.
    pub content: String,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// The claims in the file, in the file's order; all are now submitted.
    pub claim_ids: Vec<Uuid>,
    pub claim_numbers: Vec<String>,
    pub total_charge: Cents,
    pub created_at: PrimitiveDateTime,
}

/// Exports the organization's ready claims (all of them with `None`, else those named, each of
/// which must be ready) as one 837P, stores the file with fresh control numbers, and moves the
/// claims ready -> submitted, which counts their sessions against the authorizations (and may be
/// refused by the database: `billing_claims_authorization_exhausted`). All or nothing, in a
/// savepoint of the caller's transaction.
pub async fn export_837p(
    conn: &mut PgConnection,
    org_id: Uuid,
    claim_ids: Option<&[Uuid]>,
    settings: &ExportSettings,
) -> Result<ClaimExport, BillingError> {
    let mut tx = conn.begin().await?;

    // Locking the claims makes a second export running at the same time wait, then find them
    // submitted: a claim goes out in one file only.
    let claims: Vec<(Uuid, String, String)> = match claim_ids {
        None => {
            sqlx::query_as(
                "select id, claim_number, status::text from billing_claims
                  where org_id = $1 and status = 'ready'
                  order by claim_number
                    for update",
            )
            .bind(org_id)
            .fetch_all(&mut *tx)
            .await?
        }
        Some(ids) => {
            let found: Vec<(Uuid, String, String)> = sqlx::query_as(
                "select id, claim_number, status::text from billing_claims
                  where org_id = $1 and id = any ($2)
                  order by claim_number
                    for update",
            )
            .bind(org_id)
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
            for id in ids {
                if !found.iter().any(|(found_id, ..)| found_id == id) {
                    return Err(BillingError::ClaimNotFound(*id));
                }
            }
            if let Some((_, claim_number, status)) = found.iter().find(|(.., s)| s != "ready") {
                return Err(BillingError::NotReady {
                    claim_number: claim_number.clone(),
                    status: status.clone(),
                });
            }
            found
        }
    };
    if claims.is_empty() {
        return Err(BillingError::NothingReady);
    }
    let ids: Vec<Uuid> = claims.iter().map(|(id, ..)| *id).collect();
    let numbers: Vec<String> = claims.iter().map(|(_, number, _)| number.clone()).collect();
    let documents = load_claim_documents(&mut tx, &ids).await?;

    // The counter row's lock serializes exports of one organization: numbers are consecutive and
    // never repeat.
    let (interchange, group, created_at): (i32, i32, PrimitiveDateTime) = sqlx::query_as(
        "with counter as (
             insert into billing_counters (org_id, last_interchange_control_number, last_group_control_number)
             values ($1, 1, 1)
             on conflict (org_id) do update
                set last_interchange_control_number = billing_counters.last_interchange_control_number + 1,
                    last_group_control_number = billing_counters.last_group_control_number + 1
             returning last_interchange_control_number, last_group_control_number)
         select c.last_interchange_control_number, c.last_group_control_number,
                date_trunc('second', now() at time zone o.time_zone)
           from counter c, organizations o where o.id = $1",
    )
    .bind(org_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
        Some("billing_counters_interchange_check" | "billing_counters_group_check") => {
            BillingError::ControlNumbersExhausted
        }
        _ => BillingError::Database(e),
    })?;
    let interchange_control_number =
        u32::try_from(interchange).map_err(|_| BillingError::ControlNumbersExhausted)?;
    let group_control_number =
        u32::try_from(group).map_err(|_| BillingError::ControlNumbersExhausted)?;

    let envelope = Envelope837 {
        interchange_control_number,
        group_control_number,
        transaction_set_control_number: 1,
        sender_id: settings.sender_id.clone(),
        receiver_id: settings.receiver_id.clone(),
        submitter_name: settings.submitter_name.clone(),
        submitter_contact_name: settings.submitter_contact_name.clone(),
        submitter_contact_phone: settings.submitter_contact_phone.clone(),
        receiver_name: settings.receiver_name.clone(),
        created_at,
        production: settings.production,
        batch_reference: format!("{interchange_control_number:09}"),
    };
    let content = write_837p(&envelope, &documents)?;
    let digest: [u8; 32] = Sha256::digest(content.as_bytes()).into();
    let total_charge: Cents = documents.iter().map(|d| d.total_charge()).sum();
    let file_name = format!("837P-{interchange_control_number:09}.x12");

    // Submitting counts the authorizations; a refusal here undoes the whole export.
    sqlx::query(
        "update billing_claims set status = 'submitted', submitted_at = now()
          where org_id = $1 and id = any ($2)",
    )
    .bind(org_id)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;

    let export_id: Uuid = sqlx::query_scalar(
        "insert into claim_exports (org_id, interchange_control_number, group_control_number, file_name,
                                    content, sha256, claim_count, total_charge, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, ($8::bigint::numeric / 100), app.user_id())
         returning id",
    )
    .bind(org_id)
    .bind(interchange)
    .bind(group)
    .bind(&file_name)
    .bind(&content)
    .bind(&digest[..])
    .bind(i32::try_from(ids.len()).unwrap_or(i32::MAX))
    .bind(total_charge.0)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "insert into claim_export_claims (org_id, export_id, claim_id)
         select $1, $2, unnest($3::uuid[])",
    )
    .bind(org_id)
    .bind(export_id)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;

    tx.commit().await?;
    Ok(ClaimExport {
        id: export_id,
        interchange_control_number,
        group_control_number,
        file_name,
        content,
        sha256: hex::encode(digest),
        claim_ids: ids,
        claim_numbers: numbers,
        total_charge,
        created_at,
    })
}
