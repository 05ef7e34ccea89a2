//! Rules about clinical documentation.

pub mod note_diff;
pub mod note_format;
pub mod note_signing;
pub mod recurrence;
pub mod treatment_plan;
