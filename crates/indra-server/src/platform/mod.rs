//! Platform: organizations, users, providers, and signing in.

pub mod caller;
pub mod client_address;
pub mod me;
pub mod organization;
pub mod passwords;
pub mod providers;
pub mod sessions;
pub mod sign_in;
pub mod tokens;
pub mod users;
