//! The practice's administration, for admins: its users, its clinicians, its audit log.
//! Row-level security lets only admins change users and providers and read the audit log; the
//! pages check the role first to answer others with a clear 403 page.

pub mod audit;
pub mod providers;
pub mod users;

use axum::response::Redirect;

pub async fn home() -> Redirect {
    Redirect::to("/admin/users")
}
