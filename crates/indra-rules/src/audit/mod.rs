//! Rules about the tamper-evident audit log.

pub mod chain;
