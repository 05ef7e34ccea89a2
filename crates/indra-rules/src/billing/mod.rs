//! Rules about billing: codes, claims and what the payer needs.

pub mod claim_document;
pub mod cms1500;
pub mod code_suggestion;
pub mod cpt_import;
pub mod scrubber;
