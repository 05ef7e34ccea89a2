//! Rules about clinical documentation.

pub mod note_format;
