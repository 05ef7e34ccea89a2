//! `/api/v1/providers`: the practice's clinicians (NPI, credentials, license, note format,
//! supervision). Everyone reads them; admins add and change them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Provider {
    pub id: Uuid,
    pub user_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub credentials: String,
    pub npi: String,
    pub license_number: Option<String>,
    pub license_state: Option<String>,
    pub taxonomy_code: Option<String>,
    /// SOAP, DAP or BIRP.
    pub preferred_note_format: String,
    pub requires_supervision: bool,
    pub supervisor_id: Option<Uuid>,
    pub is_active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub const PROVIDER_COLUMNS: &str = "id, user_id, first_name, last_name, credentials, npi, license_number, license_state, \
     taxonomy_code, preferred_note_format::text as preferred_note_format, requires_supervision, supervisor_id, \
     is_active, created_at, updated_at";
