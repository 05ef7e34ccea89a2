//! Rules about organizations, users and providers.

pub mod npi;
