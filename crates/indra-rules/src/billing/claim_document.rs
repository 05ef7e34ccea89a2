//! The claim as it leaves the practice: one plain value that the scrubber checks, the 837P writer
//! turns into X12 and the CMS-1500 printer lays out on the form.
//!
//! The database layer fills it from `billing_claims`, its lines and diagnoses, the patient, the
//! coverage, the payer, the rendering provider and the organization (the billing provider). The
//! three consumers read the same value, so a claim that passes the scrubber is exactly the claim
//! that is sent or printed.

use std::fmt;

use time::Date;

/// An amount of money in cents. Claims never use floating point: $125.00 is `Cents(12500)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Parses "125", "125.5" or "125.50" (as X12 and PostgreSQL write amounts). Negative amounts
    /// are accepted: remittances carry negative adjustments and reversals.
    pub fn parse(text: &str) -> Option<Cents> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (digits, ""),
        };
        if (whole.is_empty() && fraction.is_empty())
            || fraction.len() > 2
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let fraction: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().ok()? * 10,
            _ => fraction.parse().ok()?,
        };
        let cents = whole.checked_mul(100)?.checked_add(fraction)?;
        Some(Cents(if negative { -cents } else { cents }))
    }

    /// The amount as X12 writes it: no trailing zeros after the point, no point for whole
    /// dollars ("125", "125.5", "125.25", "-3").
    pub fn to_x12(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (dollars, cents) = (abs / 100, abs % 100);
        match cents {
            0 => format!("{sign}{dollars}"),
            c if c % 10 == 0 => format!("{sign}{dollars}.{}", c / 10),
            c => format!("{sign}{dollars}.{c:02}"),
        }
    }
}

/// "125.00", as people and the CMS-1500 read money.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;
    fn add(self, other: Cents) -> Cents {
        Cents(self.0 + other.0)
    }
}

impl std::iter::Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        Cents(iter.map(|c| c.0).sum())
    }
}

/// A postal address; every part may be missing in the record, and the scrubber says which.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
}

/// The practice that bills (837P loop 2010AA, CMS-1500 boxes 25 and 33).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BillingProvider {
    pub organization_name: String,
    /// Type 2 (organization) NPI.
    pub npi: Option<String>,
    /// Employer identification number, "12-3456789" or "123456789".
    pub tax_id: Option<String>,
    pub address: Address,
    pub phone: Option<String>,
}

/// The clinician who saw the patient (837P loop 2310B, CMS-1500 box 24J and 31).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderingProvider {
    pub first_name: String,
    pub last_name: String,
    pub credentials: String,
    pub npi: String,
    pub taxonomy_code: Option<String>,
}

/// How the patient relates to the subscriber (the policy holder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriberRelationship {
    #[default]
    Myself,
    Spouse,
    Child,
    Other,
}

impl SubscriberRelationship {
    /// The database's `subscriber_relationship` value.
    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "self" => Some(Self::Myself),
            "spouse" => Some(Self::Spouse),
            "child" => Some(Self::Child),
            "other" => Some(Self::Other),
            _ => None,
        }
    }

    /// X12 individual relationship code (SBR02 / PAT01): 18 self, 01 spouse, 19 child, G8 other.
    pub fn x12_code(self) -> &'static str {
        match self {
            Self::Myself => "18",
            Self::Spouse => "01",
            Self::Child => "19",
            Self::Other => "G8",
        }
    }
}

/// Sex as claims carry it (DMG03): F, M or U.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClaimSex {
    Female,
    Male,
    #[default]
    Unknown,
}

impl ClaimSex {
    /// From the database's `patients.sex_at_birth` ('female', 'male', 'intersex', 'unknown').
    pub fn from_db(value: Option<&str>) -> Self {
        match value {
            Some("female") => Self::Female,
            Some("male") => Self::Male,
            _ => Self::Unknown,
        }
    }

    pub fn x12_code(self) -> &'static str {
        match self {
            Self::Female => "F",
            Self::Male => "M",
            Self::Unknown => "U",
        }
    }
}

/// A person on the claim: the patient, or the subscriber when that is someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPerson {
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Date,
    pub sex: ClaimSex,
    pub address: Address,
}

/// The coverage billed: the payer and the patient's policy with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCoverage {
    pub payer_name: String,
    /// The payer's electronic id at the clearinghouse (loop 2010BB NM109).
    pub payer_id: String,
    pub payer_address: Address,
    pub payer_requires_prior_authorization: bool,
    /// 1 primary, 2 secondary, 3 tertiary.
    pub priority_rank: u8,
    pub member_id: String,
    pub group_number: Option<String>,
    pub relationship: SubscriberRelationship,
    /// The policy holder; `None` when the patient is the subscriber.
    pub subscriber: Option<ClaimPerson>,
    pub effective_from: Date,
    pub effective_to: Option<Date>,
    pub authorization: Option<Authorization>,
}

/// The payer's authorization of sessions on this coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub number: Option<String>,
    pub start: Option<Date>,
    pub end: Option<Date>,
    /// CPT codes the authorization covers; empty means every code.
    pub cpt_codes: Vec<String>,
    pub authorized_sessions: Option<u32>,
    pub sessions_used: u32,
}

/// One ICD-10-CM code in box 21 (sequence 1-12 is letter A-L).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimDiagnosis {
    pub sequence: u8,
    /// As the reference table holds it, with the dot ("F41.1").
    pub icd10_code: String,
    /// From `icd10_codes.is_billable`: a leaf code that may go on a claim.
    pub is_billable: bool,
    /// Whether the code is among the patient's recorded diagnoses.
    pub on_patient_record: bool,
}

impl ClaimDiagnosis {
    /// The box 21 letter: 1 -> 'A' ... 12 -> 'L'.
    pub fn letter(&self) -> char {
        diagnosis_letter(self.sequence)
    }
}

/// 1 -> 'A' ... 12 -> 'L'; anything else '?'.
pub fn diagnosis_letter(sequence: u8) -> char {
    if (1..=12).contains(&sequence) {
        char::from(b'A' + sequence - 1)
    } else {
        '?'
    }
}

/// What the record says about the session a line bills.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncounterDocumentation {
    /// The encounter is completed (not scheduled, in progress, cancelled or no-show).
    pub completed: bool,
    /// Its note is signed.
    pub note_signed: bool,
    /// The rendering provider practises under supervision, so the note needs a cosignature.
    pub needs_cosignature: bool,
    pub cosigned: bool,
}

/// One box 24 service line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLine {
    pub line_number: u16,
    pub cpt_code: String,
    /// The CPT code is an add-on; `add_on_to` lists the primary codes it may accompany.
    pub is_add_on: bool,
    pub add_on_to: Vec<String>,
    /// The CPT code exists in the reference table.
    pub cpt_known: bool,
    pub modifiers: Vec<String>,
    pub units: u32,
    pub charge: Cents,
    pub service_date: Date,
    pub place_of_service: String,
    /// Box 24E: sequences of the claim's diagnoses, most important first.
    pub diagnosis_pointers: Vec<u8>,
    pub documentation: EncounterDocumentation,
}

/// A whole professional claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimDocument {
    /// The practice's claim number (CLM01, the patient control number; box 26).
    pub claim_number: String,
    /// The patient's record number (box 26 when the practice prints it instead).
    pub patient_account_number: String,
    pub billing_provider: BillingProvider,
    pub rendering_provider: RenderingProvider,
    pub patient: ClaimPerson,
    pub coverage: ClaimCoverage,
    pub place_of_service: String,
    pub prior_authorization_number: Option<String>,
    /// An admin's reason to bill past the authorized sessions, if one was given.
    pub authorization_override_reason: Option<String>,
    pub diagnoses: Vec<ClaimDiagnosis>,
    pub lines: Vec<ClaimLine>,
}

impl ClaimDocument {
    /// Box 28 / CLM02: the sum of the lines' charges.
    pub fn total_charge(&self) -> Cents {
        self.lines.iter().map(|line| line.charge).sum()
    }

    /// The subscriber as the 837P's loop 2010BA needs them: the patient when they hold the policy.
    pub fn subscriber(&self) -> &ClaimPerson {
        self.coverage.subscriber.as_ref().unwrap_or(&self.patient)
    }

    /// The earliest and latest date of service on the claim.
    pub fn service_dates(&self) -> Option<(Date, Date)> {
        let first = self.lines.iter().map(|l| l.service_date).min()?;
        let last = self.lines.iter().map(|l| l.service_date).max()?;
        Some((first, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_parse_the_ways_amounts_are_written() {
        assert_eq!(Cents::parse("125"), Some(Cents(12500)));
        assert_eq!(Cents::parse("125.5"), Some(Cents(12550)));
        assert_eq!(Cents::parse("125.05"), Some(Cents(12505)));
        assert_eq!(Cents::parse(".5"), Some(Cents(50)));
        assert_eq!(Cents::parse("-3.25"), Some(Cents(-325)));
        assert_eq!(Cents::parse("1.234"), None);
        assert_eq!(Cents::parse("12a"), None);
        assert_eq!(Cents::parse(""), None);
        assert_eq!(Cents::parse("."), None);
    }

    #[test]
    fn cents_are_written_for_x12_and_for_people() {
        assert_eq!(Cents(12500).to_x12(), "125");
        assert_eq!(Cents(12550).to_x12(), "125.5");
        assert_eq!(Cents(12505).to_x12(), "125.05");
        assert_eq!(Cents(-300).to_x12(), "-3");
        assert_eq!(Cents(12500).to_string(), "125.00");
        assert_eq!(Cents(-5).to_string(), "-0.05");
    }

    #[test]
    fn diagnosis_letters_run_a_to_l() {
        assert_eq!(diagnosis_letter(1), 'A');
        assert_eq!(diagnosis_letter(12), 'L');
        assert_eq!(diagnosis_letter(13), '?');
        assert_eq!(diagnosis_letter(0), '?');
    }
}
