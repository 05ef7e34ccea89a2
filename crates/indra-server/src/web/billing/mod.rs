//! `/billing`: the biller's pages. The claims workbench (claims by status with the scrubber's
//! findings, claims made from completed sessions, 837P exports, the CMS-1500), the claim editor,
//! remittances reviewed before they are posted, a patient's insurance, the payers the practice
//! bills and its fee schedule. Every change goes
//! through the billing API's functions (`crate::billing`), so the pages follow the same rules
//! in the same code; the database decides who may do what.

pub mod claim;
pub mod fees;
pub mod insurance;
pub mod payers;
pub mod remittances;
pub mod workbench;

use axum::http::StatusCode;
use uuid::Uuid;

use crate::billing::claims::ClaimStatus;
use crate::billing::{BillingError, FieldProblem};
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Section, capitalized};

/// Claims are worked by billers and admins (row-level security shows providers their drafts,
/// which they edit from the assistant, not from here).
pub fn works_claims(role: UserRole) -> bool {
    matches!(role, UserRole::Billing | UserRole::Admin)
}

/// The 403 page for a caller who does not work claims, inside the layout.
pub async fn require_biller(db: &mut PageTx) -> Result<(), WebError> {
    if works_claims(db.caller.role) {
        return Ok(());
    }
    let layout = Layout::load(db, Section::Billing).await?;
    Err(layout.forbidden("claims are worked by billers and admins"))
}

/// A refused form of the billing pages: its status, every field at fault, and the sentence said
/// above the form.
#[derive(Debug, Clone)]
pub struct FormRefusal {
    pub status: StatusCode,
    pub problems: Vec<FieldProblem>,
    pub message: String,
}

impl FormRefusal {
    pub fn fields(status: StatusCode, problems: Vec<FieldProblem>) -> Self {
        Self {
            status,
            problems,
            message: "Not saved: correct the fields marked below.".to_owned(),
        }
    }

    /// What a form says of the API's refusal of `what` (`this payer`); `Err` for failures that
    /// are not the form's (a 403, a 404, the database), which are their own page.
    pub fn of(error: BillingError, what: &str) -> Result<Self, ApiError> {
        let problems = error.field_problems();
        match error.into_api_error() {
            ApiError::Invalid { detail, .. } if problems.is_empty() => Ok(Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                problems,
                message: format!("Not saved: {}", sentence(&detail)),
            }),
            ApiError::Invalid { .. } => {
                Ok(Self::fields(StatusCode::UNPROCESSABLE_ENTITY, problems))
            }
            ApiError::Conflict { detail, field } => {
                // PostgreSQL's own words are not the biller's.
                let detail = if detail.contains("violates") {
                    "conflicts with another record of the practice".to_owned()
                } else {
                    detail
                };
                Ok(Self {
                    status: StatusCode::CONFLICT,
                    problems: field
                        .map(|field| FieldProblem {
                            field,
                            detail: detail.clone(),
                        })
                        .into_iter()
                        .collect(),
                    message: format!("Not saved: {}", sentence(&detail)),
                })
            }
            ApiError::PreconditionFailed | ApiError::PreconditionRequired => Ok(Self {
                status: StatusCode::PRECONDITION_FAILED,
                problems,
                message: format!(
                    "Not saved: {what} changed since you opened it. Your values are kept below; \
                     save them again to replace what is stored now."
                ),
            }),
            other => Err(other),
        }
    }

    /// The messages for `field`.
    pub fn errors(&self, field: &str) -> Vec<String> {
        self.problems
            .iter()
            .filter(|p| p.field == field)
            .map(|p| p.detail.clone())
            .collect()
    }
}

/// `the charge is required` -> `The charge is required.`
fn sentence(detail: &str) -> String {
    let mut text = capitalized(detail);
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

/// The id of a path, or the 404 page.
pub async fn path_id(db: &mut PageTx, text: &str, section: Section) -> Result<Uuid, WebError> {
    match Uuid::parse_str(text) {
        Ok(id) => Ok(id),
        Err(_) => {
            let layout = Layout::load(db, section).await?;
            Err(WebError::not_found().with_layout(layout))
        }
    }
}

/// Every status, in the order a claim goes through them (the workbench's tabs).
pub const STATUSES: [ClaimStatus; 9] = [
    ClaimStatus::Draft,
    ClaimStatus::Ready,
    ClaimStatus::Submitted,
    ClaimStatus::Accepted,
    ClaimStatus::Rejected,
    ClaimStatus::Denied,
    ClaimStatus::Paid,
    ClaimStatus::Appealed,
    ClaimStatus::Voided,
];

/// `draft`, as the API and the pages name a status.
pub fn status_word(status: ClaimStatus) -> &'static str {
    match status {
        ClaimStatus::Draft => "draft",
        ClaimStatus::Ready => "ready",
        ClaimStatus::Submitted => "submitted",
        ClaimStatus::Accepted => "accepted",
        ClaimStatus::Rejected => "rejected",
        ClaimStatus::Denied => "denied",
        ClaimStatus::Paid => "paid",
        ClaimStatus::Appealed => "appealed",
        ClaimStatus::Voided => "voided",
    }
}

pub fn parse_status(text: &str) -> Option<ClaimStatus> {
    STATUSES.into_iter().find(|s| status_word(*s) == text)
}

/// `135.00` -> `$135.00`; `-20.00` -> `-$20.00`.
pub fn dollars(amount: &str) -> String {
    match amount.strip_prefix('-') {
        Some(rest) => format!("-${rest}"),
        None => format!("${amount}"),
    }
}

/// `A`..`L` for sequences 1..12.
pub fn letter(sequence: usize) -> String {
    u8::try_from(sequence)
        .ok()
        .filter(|s| (1..=26).contains(s))
        .map(|s| char::from(b'A' + s - 1).to_string())
        .unwrap_or_else(|| "?".to_owned())
}

/// `A,b c` -> `[1, 2, 3]`; `None` for anything that is not a letter A-L.
pub fn pointers_from_letters(text: &str) -> Option<Vec<i32>> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .flat_map(|part| part.chars().collect::<Vec<_>>())
        .map(|c| {
            let c = c.to_ascii_uppercase();
            ('A'..='L')
                .contains(&c)
                .then(|| i32::from(c as u8 - b'A' + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_are_read_as_letters() {
        assert_eq!(pointers_from_letters("A,B"), Some(vec![1, 2]));
        assert_eq!(pointers_from_letters(" a c "), Some(vec![1, 3]));
        assert_eq!(pointers_from_letters("AB"), Some(vec![1, 2]));
        assert_eq!(pointers_from_letters(""), Some(vec![]));
        assert_eq!(pointers_from_letters("A,M"), None);
        assert_eq!(pointers_from_letters("1"), None);
        assert_eq!(letter(1), "A");
        assert_eq!(letter(12), "L");
    }

    #[test]
    fn amounts_read_as_dollars() {
        assert_eq!(dollars("135.00"), "$135.00");
        assert_eq!(dollars("-20.00"), "-$20.00");
    }

    #[test]
    fn every_status_has_its_word() {
        for status in STATUSES {
            assert_eq!(parse_status(status_word(status)), Some(status));
        }
        assert_eq!(parse_status("lost"), None);
    }
}
