//! The audit log as stored in PostgreSQL.

pub mod verify;

pub use verify::{ChainReport, verify_audit_chains};
