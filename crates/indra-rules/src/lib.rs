//! Indra's pure domain rules.
//!
//! Everything here is a plain function on plain types: no I/O, no database, no clock. That keeps
//! the rules that decide what is valid (an NPI, a note's sections, an intact audit chain) cheap to
//! unit-test and fuzz, and lets the database layer and the server share one definition.

pub mod audit;
pub mod billing;
pub mod clinical;
pub mod platform;
pub mod x12;
