//! Billing in the database: claims built from documented sessions, the claim document the
//! scrubber and the X12 writer read, 837P export and 835 posting.
//!
//! Every function takes the caller's connection and runs inside the caller's transaction: under
//! the caller's row-level security in the server, or as the service role in the CLI. Each one that
//! writes opens a savepoint of its own, so an error leaves the caller's transaction as it was
//! (and usable). The rules themselves (what may become ready, authorization counting, lines
//! frozen after draft) are the database's, in migration 0018; these functions never re-decide
//! them, they report the database's refusal.

mod create;
mod documents;
mod export;
mod remittance;

pub use create::{ClaimCreation, CreatedClaim, create_claims_from_encounters};
pub use documents::load_claim_documents;
pub use export::{ClaimExport, EnvelopeConfig, ExportSettings, export_837p};
pub use remittance::{
    ClaimPosting, PaymentPosting, PostedRemittance, RemittancePreview, post_remittance,
    preview_remittance,
};

use indra_rules::x12::X12Error;
use uuid::Uuid;

/// Why a billing operation did not happen. Database refusals stay [`sqlx::Error`]s, whose
/// constraint names (billing_claims_ready_*, billing_claims_authorization_exhausted, ...) the
/// server maps to messages.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Nothing to export: the organization has no ready claim (or none of those named is ready).
    #[error("no claim is ready to export")]
    NothingReady,
    /// A claim named for export does not exist in the caller's organization.
    #[error("claim {0} was not found")]
    ClaimNotFound(Uuid),
    /// A claim named for export is not ready.
    #[error("claim {claim_number} is {status}, not ready: only ready claims are exported")]
    NotReady {
        claim_number: String,
        status: String,
    },
    /// The 837P could not be written, or the 835 could not be read.
    #[error(transparent)]
    X12(#[from] X12Error),
    /// The remittance does not add up; nothing was posted. Each reason is a sentence a biller
    /// understands.
    #[error("the remittance does not balance: {}", .0.join("; "))]
    Unbalanced(Vec<String>),
    /// The organization used up the X12 control numbers (ISA13 has nine digits).
    #[error("the interchange control numbers of this organization are used up")]
    ControlNumbersExhausted,
}
