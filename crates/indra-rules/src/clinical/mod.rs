//! Rules about clinical documentation.

pub mod note_format;
pub mod note_signing;
