//! The clinical record as stored in PostgreSQL: what the `indra` command and the server share.

pub mod note_verification;

pub use note_verification::{
    HashCheck, NoteVersionRecord, PublishedKey, SignatureCheck, SignatureRecord, SignatureReport,
    VerificationSummary, VersionReport, check_note_version, load_lineage, published_keys,
    verify_notes, verifying_keys,
};
