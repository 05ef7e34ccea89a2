//! X12 5010 for professional billing: the 837P claim the practice sends (005010X222A1) and the
//! 835 remittance the payer sends back (005010X221A1).
//!
//! Both directions work on plain values and strings, with no I/O: the database layer fills a
//! [`ClaimDocument`](crate::billing::claim_document::ClaimDocument) and stores what comes back,
//! the clearinghouse transport lives elsewhere.

pub mod claim_837p;
pub mod remittance_835;

mod segment_reader;
mod segment_writer;

pub use claim_837p::{Envelope837, write_837p};
pub use remittance_835::{
    Adjustment, BalanceProblem, ClaimPayment, ProviderAdjustment, Remittance, ServicePayment,
    check_balance, parse_835,
};

/// Why an X12 document could not be written or read. The messages name the claim or the segment
/// and element, never the patient's data, so they may be logged and shown to the biller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X12Error {
    /// A value that cannot go into the 837P: missing, too long, or containing a delimiter that
    /// would split the segment and shift every element after it.
    #[error("claim {claim}: {element} {problem}")]
    InvalidValue {
        /// The claim number, or "envelope" for the interchange headers.
        claim: String,
        /// The loop and element, e.g. "2010BA NM109 (member id)".
        element: String,
        problem: String,
    },
    /// An 837P needs at least one claim: an empty ST..SE is rejected by every clearinghouse.
    #[error("an 837P needs at least one claim")]
    NoClaims,
    /// The text is not an X12 interchange at all.
    #[error("not an X12 interchange: {0}")]
    NotAnInterchange(String),
    /// A segment of a received document that cannot be read.
    #[error("segment {position} ({segment}): {problem}")]
    Malformed {
        /// 1-based position of the segment in the interchange (ISA is 1).
        position: usize,
        segment: String,
        problem: String,
    },
}
