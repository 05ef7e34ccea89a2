//! The claim scrubber: everything a payer or clearinghouse would reject a claim for, found before
//! the claim leaves the practice, each finding a sentence beside the field to fix.
//!
//! Errors hold the claim (it cannot become `ready`); warnings are shown and the claim may still go
//! out. Every finding carries a stable rule name (`rendering_npi_check_digit`) the server and the
//! tests match on, and a field path the claim editor puts the message beside
//! (`lines[2].diagnosis_pointers`, `diagnoses[B].icd10_code`): lines by their line number,
//! diagnoses by their box 21 letter.
//!
//! Choices the rules make, and why:
//!
//! - **Units**: every behavioral-health code here is billed once per session except 90840 (one
//!   unit per further 30 minutes of crisis time) and 96127 (one unit per instrument scored), so any
//!   other code with more than one unit is an error.
//! - **Telehealth**: modifier 95 (video) or 93 (audio-only) says the service was remote, so the
//!   line's place of service must be 02 or 10. Place 02/10 without either modifier is only a
//!   warning: Medicare reads the place of service alone, commercial payers usually want the
//!   modifier too.
//! - **Authorization scope**: an authorization with a CPT scope concerns only the lines whose code
//!   is in it; its dates and its session count apply to those lines alone.
//! - **Sessions**: a session is a date of service, however many lines bill it (a 90834 with its
//!   90785 is one session), as [`sessions_on_claim`] counts them.

use std::collections::BTreeSet;

use time::Date;

use super::claim_document::{Address, ClaimDocument, ClaimLine, diagnosis_letter};
use crate::platform::npi::npi_is_valid;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The claim is held until this is fixed.
    Error,
    /// Shown to the biller; the claim may still go out.
    Warning,
}

impl Severity {
    /// "error" or "warning", as the API and the web page name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// One thing wrong with the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Stable machine name of the rule ("rendering_npi_check_digit").
    pub rule: &'static str,
    /// Where the message belongs: "billing_provider.tax_id", "lines[2].diagnosis_pointers".
    pub field: String,
    /// The service line the finding is about, if any.
    pub line_number: Option<u16>,
    /// What is wrong and what to do, in one or two sentences.
    pub message: String,
}

/// Everything the scrubber found, claim-level findings first, then diagnoses, then lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrubReport {
    pub findings: Vec<Finding>,
}

impl ScrubReport {
    pub fn errors(&self) -> Vec<&Finding> {
        self.of(Severity::Error)
    }

    pub fn warnings(&self) -> Vec<&Finding> {
        self.of(Severity::Warning)
    }

    /// No errors: the claim may become `ready` (warnings do not hold it).
    pub fn is_clean(&self) -> bool {
        self.findings.iter().all(|f| f.severity != Severity::Error)
    }

    fn of(&self, severity: Severity) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect()
    }
}

/// Codes that may carry more than one unit: 90840 (each further 30 minutes of crisis time) and
/// 96127 (each instrument scored).
const MULTI_UNIT_CODES: [&str; 2] = ["90840", "96127"];

/// The most units a line may carry (the 837P and the form's box 24G allow more, but no
/// behavioral-health session comes near it; a larger number is a typing error).
const MAX_UNITS: u32 = 99;

/// Places of service for telehealth: 02 (other than the patient's home), 10 (the patient's home).
const TELEHEALTH_PLACES: [&str; 2] = ["02", "10"];
/// Modifiers that say the service was remote: 95 video, 93 audio-only.
const TELEHEALTH_MODIFIERS: [&str; 2] = ["95", "93"];

/// Box 21 holds at most twelve diagnoses (A-L); box 24E at most four pointers; SV101 at most
/// four modifiers.
const MAX_DIAGNOSES: usize = 12;
const MAX_POINTERS: usize = 4;
const MAX_MODIFIERS: usize = 4;

/// Usage at or above this share of the authorized sessions is worth a warning.
const AUTHORIZATION_WARNING_PERCENT: u64 = 80;

/// Checks a claim against every rule and returns what it found.
pub fn scrub(claim: &ClaimDocument) -> ScrubReport {
    let mut scrub = Scrub::default();
    billing_provider(claim, &mut scrub);
    rendering_provider(claim, &mut scrub);
    people(claim, &mut scrub);
    coverage(claim, &mut scrub);
    diagnoses(claim, &mut scrub);
    lines(claim, &mut scrub);
    authorization_usage(claim, &mut scrub);
    ScrubReport {
        findings: scrub.findings,
    }
}

/// The sessions this claim uses of its coverage's authorization: the distinct dates of service
/// of the lines whose CPT code is in the authorization's scope (every line when the scope is
/// empty, or when there is no authorization).
pub fn sessions_on_claim(claim: &ClaimDocument) -> u32 {
    let dates: BTreeSet<Date> = claim
        .lines
        .iter()
        .filter(|line| in_authorization_scope(claim, line))
        .map(|line| line.service_date)
        .collect();
    u32::try_from(dates.len()).unwrap_or(u32::MAX)
}

fn in_authorization_scope(claim: &ClaimDocument, line: &ClaimLine) -> bool {
    match &claim.coverage.authorization {
        Some(auth) => auth.cpt_codes.is_empty() || auth.cpt_codes.contains(&line.cpt_code),
        None => true,
    }
}

#[derive(Default)]
struct Scrub {
    findings: Vec<Finding>,
}

impl Scrub {
    fn error(&mut self, rule: &'static str, field: impl Into<String>, message: String) {
        self.push(Severity::Error, rule, field.into(), None, message);
    }

    fn warning(&mut self, rule: &'static str, field: impl Into<String>, message: String) {
        self.push(Severity::Warning, rule, field.into(), None, message);
    }

    fn line_error(&mut self, rule: &'static str, line: &ClaimLine, field: &str, message: String) {
        self.push(
            Severity::Error,
            rule,
            line_field(line, field),
            Some(line.line_number),
            message,
        );
    }

    fn line_warning(&mut self, rule: &'static str, line: &ClaimLine, field: &str, message: String) {
        self.push(
            Severity::Warning,
            rule,
            line_field(line, field),
            Some(line.line_number),
            message,
        );
    }

    fn push(
        &mut self,
        severity: Severity,
        rule: &'static str,
        field: String,
        line_number: Option<u16>,
        message: String,
    ) {
        self.findings.push(Finding {
            severity,
            rule,
            field,
            line_number,
            message,
        });
    }
}

fn line_field(line: &ClaimLine, field: &str) -> String {
    format!("lines[{}].{field}", line.line_number)
}

/// "diagnoses[B]" for sequences 1-12; the number when it has no letter ("diagnoses[13]").
fn diagnosis_path(sequence: u8) -> String {
    match diagnosis_letter(sequence) {
        '?' => format!("diagnoses[{sequence}]"),
        letter => format!("diagnoses[{letter}]"),
    }
}

/// A diagnosis as a biller names it: its letter, or its number when it has none.
fn diagnosis_name(sequence: u8) -> String {
    match diagnosis_letter(sequence) {
        '?' => sequence.to_string(),
        letter => letter.to_string(),
    }
}

/// MM/DD/YYYY, as billers and payers write dates.
fn us_date(date: Date) -> String {
    format!(
        "{:02}/{:02}/{:04}",
        u8::from(date.month()),
        date.day(),
        date.year()
    )
}

fn blank(value: Option<&str>) -> bool {
    value.is_none_or(|v| v.trim().is_empty())
}

fn billing_provider(claim: &ClaimDocument, scrub: &mut Scrub) {
    let provider = &claim.billing_provider;
    if provider.organization_name.trim().is_empty() {
        scrub.error(
            "billing_provider_name_missing",
            "billing_provider.organization_name",
            "The billing provider has no name. Enter the practice's legal name (box 33).".into(),
        );
    }
    npi(
        provider.npi.as_deref(),
        "billing_provider.npi",
        "the billing provider (the practice, box 33a)",
        [
            "billing_npi_missing",
            "billing_npi_format",
            "billing_npi_check_digit",
        ],
        scrub,
    );
    match provider.tax_id.as_deref().map(str::trim) {
        None | Some("") => scrub.error(
            "billing_tax_id_missing",
            "billing_provider.tax_id",
            "The billing provider has no tax id. Enter the practice's EIN (box 25), e.g. \
             12-3456789."
                .into(),
        ),
        Some(tax_id) if !ein_is_well_formed(tax_id) => scrub.error(
            "billing_tax_id_format",
            "billing_provider.tax_id",
            format!(
                "The billing provider's tax id \"{tax_id}\" is not an EIN: it must be nine digits, \
                 written 123456789 or 12-3456789."
            ),
        ),
        Some(_) => {}
    }
    address(
        &provider.address,
        "billing_provider.address",
        "The billing provider's address",
        ["billing_address_incomplete", "billing_address_invalid"],
        scrub,
    );
}

/// Nine digits, optionally with the hyphen after the second ("12-3456789").
fn ein_is_well_formed(tax_id: &str) -> bool {
    let digits: String = match tax_id.split_once('-') {
        Some((head, tail)) if head.len() == 2 => format!("{head}{tail}"),
        Some(_) => return false,
        None => tax_id.to_owned(),
    };
    digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit())
}

fn npi(
    value: Option<&str>,
    field: &str,
    whose: &str,
    [missing, format, check_digit]: [&'static str; 3],
    scrub: &mut Scrub,
) {
    match value.map(str::trim) {
        None | Some("") => scrub.error(
            missing,
            field,
            format!("There is no NPI for {whose}. Enter the ten-digit NPI."),
        ),
        Some(npi) if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) => scrub.error(
            format,
            field,
            format!(
                "The NPI for {whose}, \"{npi}\", is not ten digits. Enter the NPI as NPPES lists \
                 it."
            ),
        ),
        Some(npi) if !npi_is_valid(npi) => scrub.error(
            check_digit,
            field,
            format!(
                "The NPI for {whose}, {npi}, fails its check digit, so it is mistyped. Compare it \
                 with NPPES and correct it."
            ),
        ),
        Some(_) => {}
    }
}

fn address(
    address: &Address,
    prefix: &str,
    whose: &str,
    [incomplete, invalid]: [&'static str; 2],
    scrub: &mut Scrub,
) {
    let parts = [
        ("line1", address.line1.as_deref(), "street address"),
        ("city", address.city.as_deref(), "city"),
        ("state", address.state.as_deref(), "state"),
        ("postal_code", address.postal_code.as_deref(), "ZIP code"),
    ];
    for (part, value, name) in parts {
        if blank(value) {
            scrub.error(
                incomplete,
                format!("{prefix}.{part}"),
                format!("{whose} has no {name}. Enter it: the claim needs a complete address."),
            );
        }
    }
    if let Some(state) = address.state.as_deref().map(str::trim)
        && !state.is_empty()
        && !(state.len() == 2 && state.bytes().all(|b| b.is_ascii_uppercase()))
    {
        scrub.error(
            invalid,
            format!("{prefix}.state"),
            format!(
                "{whose} has state \"{state}\". Enter the two-letter postal abbreviation, e.g. OR."
            ),
        );
    }
    if let Some(zip) = address.postal_code.as_deref().map(str::trim)
        && !zip.is_empty()
        && !zip_is_well_formed(zip)
    {
        scrub.error(
            invalid,
            format!("{prefix}.postal_code"),
            format!(
                "{whose} has ZIP code \"{zip}\". Enter five or nine digits (97201 or 97201-1234)."
            ),
        );
    }
}

fn zip_is_well_formed(zip: &str) -> bool {
    let digits: String = match zip.split_once('-') {
        Some((head, tail)) if head.len() == 5 && tail.len() == 4 => format!("{head}{tail}"),
        Some(_) => return false,
        None => zip.to_owned(),
    };
    matches!(digits.len(), 5 | 9) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn rendering_provider(claim: &ClaimDocument, scrub: &mut Scrub) {
    let provider = &claim.rendering_provider;
    if provider.first_name.trim().is_empty() || provider.last_name.trim().is_empty() {
        scrub.error(
            "rendering_provider_name_missing",
            "rendering_provider.last_name",
            "The rendering provider's first or last name is missing. Complete the clinician's \
             name (box 31)."
                .into(),
        );
    }
    npi(
        Some(provider.npi.as_str()),
        "rendering_provider.npi",
        "the rendering provider (box 24J)",
        [
            "rendering_npi_missing",
            "rendering_npi_format",
            "rendering_npi_check_digit",
        ],
        scrub,
    );
}

fn people(claim: &ClaimDocument, scrub: &mut Scrub) {
    let patient = &claim.patient;
    if patient.first_name.trim().is_empty() || patient.last_name.trim().is_empty() {
        scrub.error(
            "patient_name_missing",
            "patient.last_name",
            "The patient's first or last name is missing. Complete it as the insurance card \
             shows it."
                .into(),
        );
    }
    if let Some((first, _)) = claim.service_dates()
        && patient.date_of_birth > first
    {
        scrub.error(
            "patient_date_of_birth_after_service",
            "patient.date_of_birth",
            format!(
                "The patient's date of birth, {}, is after the first date of service, {}. Correct \
                 the date of birth.",
                us_date(patient.date_of_birth),
                us_date(first)
            ),
        );
    }
    address(
        &patient.address,
        "patient.address",
        "The patient's address",
        ["patient_address_incomplete", "patient_address_invalid"],
        scrub,
    );
    if let Some(subscriber) = &claim.coverage.subscriber {
        if subscriber.first_name.trim().is_empty() || subscriber.last_name.trim().is_empty() {
            scrub.error(
                "subscriber_name_missing",
                "coverage.subscriber.last_name",
                "The subscriber's first or last name is missing. Complete it as the insurance \
                 card shows it."
                    .into(),
            );
        }
        address(
            &subscriber.address,
            "coverage.subscriber.address",
            "The subscriber's address",
            [
                "subscriber_address_incomplete",
                "subscriber_address_invalid",
            ],
            scrub,
        );
    }
}

fn coverage(claim: &ClaimDocument, scrub: &mut Scrub) {
    let coverage = &claim.coverage;
    if coverage.member_id.trim().is_empty() {
        scrub.error(
            "member_id_missing",
            "coverage.member_id",
            "The coverage has no member id. Enter the id on the insurance card (box 1a).".into(),
        );
    }
    if coverage.payer_id.trim().is_empty() {
        scrub.error(
            "payer_id_missing",
            "coverage.payer_id",
            format!(
                "The payer {} has no electronic payer id. Enter the id the clearinghouse lists \
                 for it.",
                coverage.payer_name
            ),
        );
    }
    if !two_digits(&claim.place_of_service) {
        scrub.error(
            "place_of_service_format",
            "place_of_service",
            format!(
                "The claim's place of service \"{}\" is not a two-digit CMS code. Enter e.g. 11 \
                 (office) or 10 (telehealth in the patient's home).",
                claim.place_of_service
            ),
        );
    }
    let claim_number = claim.prior_authorization_number.as_deref();
    let coverage_number = coverage
        .authorization
        .as_ref()
        .and_then(|auth| auth.number.as_deref());
    if coverage.payer_requires_prior_authorization && blank(claim_number) && blank(coverage_number)
    {
        scrub.error(
            "prior_authorization_missing",
            "prior_authorization_number",
            format!(
                "{} requires prior authorization, but the claim has no prior authorization \
                 number. Enter the number the payer gave (box 23).",
                coverage.payer_name
            ),
        );
    }
}

fn two_digits(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit())
}

/// "A-C" when three or more letters run without gaps, else "A and B" or "A, B and D".
fn letters_text(sequences: &BTreeSet<u8>) -> String {
    let names: Vec<String> = sequences.iter().map(|&s| diagnosis_name(s)).collect();
    let contiguous = sequences
        .iter()
        .zip(sequences.iter().skip(1))
        .all(|(a, b)| b - a == 1);
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [first, _, .., last] if contiguous => format!("{first}-{last}"),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The code as payers compare it: upper case, without the period.
fn icd10_key(code: &str) -> String {
    code.trim()
        .chars()
        .filter(|&c| c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// ICD-10-CM shape: a letter, a digit, a letter or digit, then up to four more after an optional
/// period ("F41.1", "F411", "Z63.0", "F32.A").
fn icd10_is_well_formed(code: &str) -> bool {
    if !code.is_ascii() {
        return false;
    }
    let (head, tail) = match code.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None if code.len() > 3 => (&code[..3], Some(&code[3..])),
        None => (code, None),
    };
    let head = head.as_bytes();
    let head_ok = head.len() == 3
        && head[0].is_ascii_uppercase()
        && head[1].is_ascii_digit()
        && head[2].is_ascii_alphanumeric();
    let tail_ok = tail.is_none_or(|t| {
        (1..=4).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    });
    head_ok && tail_ok
}

fn diagnoses(claim: &ClaimDocument, scrub: &mut Scrub) {
    let diagnoses = &claim.diagnoses;
    if diagnoses.is_empty() {
        scrub.error(
            "claim_has_no_diagnosis",
            "diagnoses",
            "The claim has no diagnosis. Add the diagnosis the sessions treated (box 21 A).".into(),
        );
        return;
    }
    if diagnoses.len() > MAX_DIAGNOSES {
        scrub.error(
            "too_many_diagnoses",
            "diagnoses",
            format!(
                "The claim has {} diagnoses; box 21 holds at most {MAX_DIAGNOSES} (A-L). Remove \
                 the ones no line needs.",
                diagnoses.len()
            ),
        );
    }

    let mut sorted: Vec<_> = diagnoses.iter().collect();
    sorted.sort_by_key(|d| d.sequence);
    let mut seen_sequences = BTreeSet::new();
    let mut seen_codes: Vec<(String, u8)> = Vec::new();
    for diagnosis in &sorted {
        let path = diagnosis_path(diagnosis.sequence);
        let name = diagnosis_name(diagnosis.sequence);
        if !(1..=12).contains(&diagnosis.sequence) {
            scrub.error(
                "diagnosis_sequence_out_of_range",
                format!("{path}.sequence"),
                format!(
                    "Diagnosis {} ({}) has sequence {}; box 21 numbers diagnoses 1-12 (A-L). \
                     Renumber it.",
                    name, diagnosis.icd10_code, diagnosis.sequence
                ),
            );
        } else if !seen_sequences.insert(diagnosis.sequence) {
            scrub.error(
                "diagnosis_sequence_duplicate",
                format!("{path}.sequence"),
                format!(
                    "Two diagnoses are both {name}. Give {} its own letter.",
                    diagnosis.icd10_code
                ),
            );
        }

        let key = icd10_key(&diagnosis.icd10_code);
        if let Some((_, first)) = seen_codes.iter().find(|(code, _)| *code == key) {
            scrub.error(
                "diagnosis_duplicate_code",
                format!("{path}.icd10_code"),
                format!(
                    "Diagnosis {name} repeats {} already listed as {}. Remove the repeat and \
                     point its lines at {}.",
                    diagnosis.icd10_code,
                    diagnosis_name(*first),
                    diagnosis_name(*first)
                ),
            );
        } else {
            seen_codes.push((key, diagnosis.sequence));
        }

        if !icd10_is_well_formed(diagnosis.icd10_code.trim()) {
            scrub.error(
                "diagnosis_code_format",
                format!("{path}.icd10_code"),
                format!(
                    "Diagnosis {name}, \"{}\", is not an ICD-10-CM code. Choose the code from \
                     the patient's diagnoses.",
                    diagnosis.icd10_code
                ),
            );
        } else if !diagnosis.is_billable {
            scrub.error(
                "diagnosis_not_billable",
                format!("{path}.icd10_code"),
                format!(
                    "Diagnosis {name}, {}, is a category, not a billable code. Choose the more \
                     specific code under it.",
                    diagnosis.icd10_code
                ),
            );
        }
        if !diagnosis.on_patient_record {
            scrub.error(
                "diagnosis_not_on_patient_record",
                format!("{path}.icd10_code"),
                format!(
                    "Diagnosis {name}, {}, is not among the patient's recorded diagnoses. Record \
                     it on the chart first, or choose one that is.",
                    diagnosis.icd10_code
                ),
            );
        }
    }

    // Gaps: the letters in use should be A up to the last one, with none skipped.
    if let Some(&last) = seen_sequences.last() {
        let missing: BTreeSet<u8> = (1..last).filter(|s| !seen_sequences.contains(s)).collect();
        if !missing.is_empty() {
            let count = seen_sequences.len();
            scrub.error(
                "diagnosis_sequence_gap",
                "diagnoses",
                format!(
                    "The diagnoses skip {}: they are {}. Renumber them {} without gaps.",
                    letters_text(&missing),
                    letters_text(&seen_sequences),
                    letters_text(&(1..=u8::try_from(count).unwrap_or(12)).collect()),
                ),
            );
        }
    }

    if !claim.lines.is_empty() {
        let pointed: BTreeSet<u8> = claim
            .lines
            .iter()
            .flat_map(|line| line.diagnosis_pointers.iter().copied())
            .collect();
        for diagnosis in &sorted {
            if !pointed.contains(&diagnosis.sequence) {
                let name = diagnosis_name(diagnosis.sequence);
                scrub.warning(
                    "diagnosis_not_pointed_at",
                    format!("{}.icd10_code", diagnosis_path(diagnosis.sequence)),
                    format!(
                        "No line points at diagnosis {name} ({}). Point a line at it, or remove \
                         it from the claim.",
                        diagnosis.icd10_code
                    ),
                );
            }
        }
    }
}

fn lines(claim: &ClaimDocument, scrub: &mut Scrub) {
    if claim.lines.is_empty() {
        scrub.error(
            "claim_has_no_lines",
            "lines",
            "The claim has no service lines. Add the sessions it bills.".into(),
        );
        return;
    }
    let mut sorted: Vec<&ClaimLine> = claim.lines.iter().collect();
    sorted.sort_by_key(|line| line.line_number);
    let diagnoses: BTreeSet<u8> = claim.diagnoses.iter().map(|d| d.sequence).collect();
    let mut seen_numbers = BTreeSet::new();

    for line in &sorted {
        if !seen_numbers.insert(line.line_number) {
            scrub.line_error(
                "line_number_duplicate",
                line,
                "line_number",
                format!(
                    "Two lines are numbered {}. Renumber the lines 1 to {}.",
                    line.line_number,
                    sorted.len()
                ),
            );
        }
        pointers(line, &diagnoses, scrub);
        procedure(claim, line, scrub);
        units_and_charge(line, scrub);
        modifiers_and_place(line, scrub);
        dates(claim, line, scrub);
        documentation(line, scrub);
    }

    // The first line's first pointer is the claim's principal diagnosis, and box 21 A is where
    // payers read the principal diagnosis.
    if let Some(first) = sorted.first()
        && let Some(&pointer) = first.diagnosis_pointers.first()
        && pointer != 1
    {
        scrub.line_error(
            "primary_diagnosis_not_first",
            first,
            "diagnosis_pointers",
            format!(
                "Line {} points first at diagnosis {}, but the first line's first pointer must \
                 be A, the primary diagnosis. Point it at A first, or make its diagnosis A.",
                first.line_number,
                diagnosis_name(pointer)
            ),
        );
    }
}

fn pointers(line: &ClaimLine, diagnoses: &BTreeSet<u8>, scrub: &mut Scrub) {
    let n = line.line_number;
    let pointers = &line.diagnosis_pointers;
    if pointers.is_empty() {
        scrub.line_error(
            "line_pointer_count",
            line,
            "diagnosis_pointers",
            format!("Line {n} points at no diagnosis. Point it at the diagnosis it treated (24E)."),
        );
    } else if pointers.len() > MAX_POINTERS {
        scrub.line_error(
            "line_pointer_count",
            line,
            "diagnosis_pointers",
            format!(
                "Line {n} points at {} diagnoses; box 24E takes at most {MAX_POINTERS}. Keep the \
                 four that matter most.",
                pointers.len()
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for &pointer in pointers {
        let name = diagnosis_name(pointer);
        if !seen.insert(pointer) {
            scrub.line_error(
                "line_pointer_duplicate",
                line,
                "diagnosis_pointers",
                format!("Line {n} points at diagnosis {name} twice. Remove the repeat."),
            );
        } else if !diagnoses.contains(&pointer) {
            let message = if diagnoses.is_empty() {
                format!(
                    "Line {n} points at diagnosis {name}, but the claim has no diagnoses. Add \
                     the diagnosis first."
                )
            } else {
                let have = letters_text(diagnoses);
                format!(
                    "Line {n} points at diagnosis {name}, but the claim has only {have}. Point \
                     it at one of {have}."
                )
            };
            scrub.line_error("line_pointer_unknown", line, "diagnosis_pointers", message);
        }
    }
}

fn procedure(claim: &ClaimDocument, line: &ClaimLine, scrub: &mut Scrub) {
    let n = line.line_number;
    if !line.cpt_known {
        scrub.line_error(
            "cpt_unknown",
            line,
            "cpt_code",
            format!(
                "Line {n}'s code \"{}\" is not a known CPT code. Choose the code from the list.",
                line.cpt_code
            ),
        );
    }
    if line.is_add_on {
        let has_primary = claim.lines.iter().any(|other| {
            other.line_number != line.line_number
                && other.service_date == line.service_date
                && line.add_on_to.contains(&other.cpt_code)
        });
        if !has_primary {
            let message = if line.add_on_to.is_empty() {
                format!(
                    "Line {n}'s {} is an add-on code, and no primary code it may accompany is \
                     listed. It cannot be billed alone.",
                    line.cpt_code
                )
            } else {
                format!(
                    "Line {n}'s {} is an add-on code and needs one of {} on the same date of \
                     service ({}). Add the primary service, or remove the add-on.",
                    line.cpt_code,
                    line.add_on_to.join(", "),
                    us_date(line.service_date)
                )
            };
            scrub.line_error("add_on_without_primary", line, "cpt_code", message);
        }
    }
}

fn units_and_charge(line: &ClaimLine, scrub: &mut Scrub) {
    let n = line.line_number;
    if line.charge.0 <= 0 {
        scrub.line_error(
            "charge_not_positive",
            line,
            "charge",
            format!(
                "Line {n}'s charge is ${}. Enter the practice's fee for {}.",
                line.charge, line.cpt_code
            ),
        );
    }
    if line.units == 0 || line.units > MAX_UNITS {
        scrub.line_error(
            "units_out_of_range",
            line,
            "units",
            format!(
                "Line {n} has {} units. Enter 1 to {MAX_UNITS} units.",
                line.units
            ),
        );
    } else if line.units != 1 && !MULTI_UNIT_CODES.contains(&line.cpt_code.as_str()) {
        scrub.line_error(
            "units_single_unit_code",
            line,
            "units",
            format!(
                "Line {n} bills {} units of {}, which is billed once per session. Set the units \
                 to 1.",
                line.units, line.cpt_code
            ),
        );
    }
}

fn modifiers_and_place(line: &ClaimLine, scrub: &mut Scrub) {
    let n = line.line_number;
    if line.modifiers.len() > MAX_MODIFIERS {
        scrub.line_error(
            "too_many_modifiers",
            line,
            "modifiers",
            format!(
                "Line {n} has {} modifiers; a line takes at most {MAX_MODIFIERS}. Remove the \
                 extra ones.",
                line.modifiers.len()
            ),
        );
    }
    for (i, modifier) in line.modifiers.iter().enumerate() {
        let well_formed = modifier.len() == 2
            && modifier
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !well_formed {
            scrub.line_error(
                "modifier_format",
                line,
                "modifiers",
                format!(
                    "Line {n}'s modifier \"{modifier}\" is not a modifier: modifiers are two \
                     characters, digits or capital letters (95, HO). Correct it."
                ),
            );
        } else if line.modifiers[..i].contains(modifier) {
            scrub.line_error(
                "modifier_duplicate",
                line,
                "modifiers",
                format!("Line {n} carries modifier {modifier} twice. Remove the repeat."),
            );
        }
    }

    let place = line.place_of_service.as_str();
    if !two_digits(place) {
        scrub.line_error(
            "place_of_service_format",
            line,
            "place_of_service",
            format!(
                "Line {n}'s place of service \"{place}\" is not a two-digit CMS code. Enter e.g. \
                 11 (office) or 10 (telehealth in the patient's home)."
            ),
        );
        return;
    }
    let remote_modifier = line
        .modifiers
        .iter()
        .find(|m| TELEHEALTH_MODIFIERS.contains(&m.as_str()));
    let remote_place = TELEHEALTH_PLACES.contains(&place);
    match (remote_modifier, remote_place) {
        (Some(modifier), false) => scrub.line_error(
            "telehealth_modifier_place_of_service",
            line,
            "place_of_service",
            format!(
                "Line {n} carries telehealth modifier {modifier} but place of service {place}. \
                 Use place of service 10 (patient's home) or 02 (elsewhere), or remove the \
                 modifier if the session was in person."
            ),
        ),
        (None, true) => scrub.line_warning(
            "telehealth_place_without_modifier",
            line,
            "modifiers",
            format!(
                "Line {n} is billed at telehealth place of service {place} without modifier 95 \
                 (video) or 93 (audio-only). Most commercial payers want the modifier: add it."
            ),
        ),
        _ => {}
    }
}

fn dates(claim: &ClaimDocument, line: &ClaimLine, scrub: &mut Scrub) {
    let n = line.line_number;
    let date = line.service_date;
    let coverage = &claim.coverage;
    if date < coverage.effective_from {
        scrub.line_error(
            "service_before_coverage",
            line,
            "service_date",
            format!(
                "Line {n}'s date of service, {}, is before the coverage with {} began on {}. Bill \
                 the coverage in effect that day, or correct the coverage's start date.",
                us_date(date),
                coverage.payer_name,
                us_date(coverage.effective_from)
            ),
        );
    }
    if let Some(end) = coverage.effective_to
        && date > end
    {
        scrub.line_error(
            "service_after_coverage",
            line,
            "service_date",
            format!(
                "Line {n}'s date of service, {}, is after the coverage with {} ended on {}. Bill \
                 the coverage in effect that day, or correct the coverage's end date.",
                us_date(date),
                coverage.payer_name,
                us_date(end)
            ),
        );
    }
    let Some(auth) = &coverage.authorization else {
        return;
    };
    if !in_authorization_scope(claim, line) {
        return;
    }
    let number = auth
        .number
        .as_deref()
        .map(|n| format!("authorization {n}"))
        .unwrap_or_else(|| "the authorization".to_owned());
    if let Some(start) = auth.start
        && date < start
    {
        scrub.line_error(
            "service_before_authorization",
            line,
            "service_date",
            format!(
                "Line {n}'s date of service, {}, is before {number} starts on {}. Ask the payer \
                 to backdate the authorization, or correct its dates.",
                us_date(date),
                us_date(start)
            ),
        );
    }
    if let Some(end) = auth.end
        && date > end
    {
        scrub.line_error(
            "service_after_authorization",
            line,
            "service_date",
            format!(
                "Line {n}'s date of service, {}, is after {number} ended on {}. Get the \
                 authorization extended, or correct its dates.",
                us_date(date),
                us_date(end)
            ),
        );
    }
}

fn documentation(line: &ClaimLine, scrub: &mut Scrub) {
    let n = line.line_number;
    let date = us_date(line.service_date);
    let doc = &line.documentation;
    if !doc.completed {
        scrub.line_error(
            "encounter_not_completed",
            line,
            "documentation",
            format!(
                "Line {n} bills the session of {date}, which is not completed. Complete the \
                 session, or take the line off the claim."
            ),
        );
    }
    if !doc.note_signed {
        scrub.line_error(
            "note_not_signed",
            line,
            "documentation",
            format!(
                "Line {n} bills the session of {date}, whose note is not signed. The clinician \
                 must sign the note before the claim can go out."
            ),
        );
    } else if doc.needs_cosignature && !doc.cosigned {
        scrub.line_error(
            "note_not_cosigned",
            line,
            "documentation",
            format!(
                "Line {n} bills the session of {date}, whose note needs a supervisor's \
                 cosignature and has none. The supervisor must cosign the note."
            ),
        );
    }
}

fn authorization_usage(claim: &ClaimDocument, scrub: &mut Scrub) {
    let Some(auth) = &claim.coverage.authorization else {
        return;
    };
    let Some(authorized) = auth.authorized_sessions else {
        return;
    };
    let this_claim = sessions_on_claim(claim);
    if this_claim == 0 {
        return;
    }
    let used = u64::from(auth.sessions_used);
    let total = used + u64::from(this_claim);
    let authorized = u64::from(authorized);
    let number = auth
        .number
        .as_deref()
        .map(|n| format!("authorization {n}"))
        .unwrap_or_else(|| "the authorization".to_owned());
    let sessions = |n: u64| if n == 1 { "session" } else { "sessions" };
    let field = "coverage.authorization.authorized_sessions";

    if total > authorized {
        match claim
            .authorization_override_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            None => scrub.error(
                "authorization_sessions_exceeded",
                field,
                format!(
                    "This claim bills {this_claim} {} under {number}; with {used} already used \
                     that makes {total} of {authorized} authorized. The claim is held: get more \
                     sessions authorized, or have an admin override with a reason.",
                    sessions(u64::from(this_claim))
                ),
            ),
            Some(reason) => scrub.warning(
                "authorization_sessions_exceeded_overridden",
                field,
                format!(
                    "This claim takes {number} to {total} of {authorized} authorized {}; it goes \
                     out on an admin's override: \"{reason}\".",
                    sessions(authorized)
                ),
            ),
        }
    } else if total * 100 >= AUTHORIZATION_WARNING_PERCENT * authorized {
        scrub.warning(
            "authorization_sessions_nearly_used",
            field,
            format!(
                "With this claim, {total} of the {authorized} {} under {number} are used ({}%). \
                 Ask the payer for more sessions before they run out.",
                sessions(authorized),
                (total * 100).checked_div(authorized).unwrap_or(100)
            ),
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use time::macros::date;

    use super::*;
    use crate::billing::claim_document::{
        Authorization, BillingProvider, Cents, ClaimCoverage, ClaimDiagnosis, ClaimPerson,
        ClaimSex, EncounterDocumentation, RenderingProvider, SubscriberRelationship,
    };
    use crate::platform::npi::npi_with_check_digit;

    fn documented() -> EncounterDocumentation {
        EncounterDocumentation {
            completed: true,
            note_signed: true,
            needs_cosignature: false,
            cosigned: false,
        }
    }

    pub(crate) fn line(number: u16, cpt: &str, date: Date, pointers: &[u8]) -> ClaimLine {
        ClaimLine {
            line_number: number,
            cpt_code: cpt.to_owned(),
            is_add_on: false,
            add_on_to: Vec::new(),
            cpt_known: true,
            modifiers: Vec::new(),
            units: 1,
            charge: Cents(15000),
            service_date: date,
            place_of_service: "11".to_owned(),
            diagnosis_pointers: pointers.to_vec(),
            documentation: documented(),
        }
    }

    fn address(line1: &str, city: &str, state: &str, zip: &str) -> Address {
        Address {
            line1: Some(line1.to_owned()),
            line2: None,
            city: Some(city.to_owned()),
            state: Some(state.to_owned()),
            postal_code: Some(zip.to_owned()),
        }
    }

    /// A claim every rule passes, without warnings: three sessions (one by video with the
    /// interactive-complexity add-on), two diagnoses, an authorization at half its sessions.
    pub(crate) fn clean_claim() -> ClaimDocument {
        let mut add_on = line(3, "90785", date!(2025 - 03 - 11), &[1]);
        add_on.is_add_on = true;
        add_on.add_on_to = vec!["90834".into(), "90837".into()];
        add_on.charge = Cents(2500);
        let mut video = line(2, "90834", date!(2025 - 03 - 11), &[1, 2]);
        video.modifiers = vec!["95".into()];
        video.place_of_service = "10".into();
        add_on.modifiers = vec!["95".into()];
        add_on.place_of_service = "10".into();
        ClaimDocument {
            claim_number: "CLM-000123".into(),
            patient_account_number: "MRN-0042".into(),
            billing_provider: BillingProvider {
                organization_name: "Riverbend Counseling".into(),
                npi: Some(npi_with_check_digit("123456789")),
                tax_id: Some("12-3456789".into()),
                address: address("100 Main St", "Portland", "OR", "97201-1234"),
                phone: Some("5035550100".into()),
            },
            rendering_provider: RenderingProvider {
                first_name: "Maya".into(),
                last_name: "Okafor".into(),
                credentials: "LCSW".into(),
                npi: npi_with_check_digit("124531959"),
                taxonomy_code: Some("1041C0700X".into()),
            },
            patient: ClaimPerson {
                first_name: "Sam".into(),
                last_name: "Rivera".into(),
                date_of_birth: date!(1990 - 07 - 14),
                sex: ClaimSex::Female,
                address: address("22 Oak Ave", "Portland", "OR", "97202"),
            },
            coverage: ClaimCoverage {
                payer_name: "Cascade Health Plan".into(),
                payer_id: "CHP01".into(),
                payer_address: address("PO Box 1000", "Salem", "OR", "97301"),
                payer_requires_prior_authorization: true,
                priority_rank: 1,
                member_id: "XJ123456789".into(),
                group_number: Some("GRP-77".into()),
                relationship: SubscriberRelationship::Myself,
                subscriber: None,
                effective_from: date!(2025 - 01 - 01),
                effective_to: Some(date!(2025 - 12 - 31)),
                authorization: Some(Authorization {
                    number: Some("AUTH-5521".into()),
                    start: Some(date!(2025 - 01 - 01)),
                    end: Some(date!(2025 - 06 - 30)),
                    cpt_codes: Vec::new(),
                    authorized_sessions: Some(20),
                    sessions_used: 5,
                }),
            },
            place_of_service: "11".into(),
            prior_authorization_number: Some("AUTH-5521".into()),
            authorization_override_reason: None,
            diagnoses: vec![
                ClaimDiagnosis {
                    sequence: 1,
                    icd10_code: "F41.1".into(),
                    is_billable: true,
                    on_patient_record: true,
                },
                ClaimDiagnosis {
                    sequence: 2,
                    icd10_code: "F33.1".into(),
                    is_billable: true,
                    on_patient_record: true,
                },
            ],
            lines: vec![
                line(1, "90837", date!(2025 - 03 - 04), &[1, 2]),
                video,
                add_on,
            ],
        }
    }

    fn rules(report: &ScrubReport, severity: Severity) -> Vec<&'static str> {
        report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.rule)
            .collect()
    }

    /// The finding for `rule`, which must be the only one of its rule, with `severity`.
    #[track_caller]
    fn only(claim: &ClaimDocument, rule: &str, severity: Severity) -> Finding {
        let report = scrub(claim);
        let found: Vec<&Finding> = report.findings.iter().filter(|f| f.rule == rule).collect();
        assert_eq!(found.len(), 1, "one {rule} expected, got {report:#?}");
        assert_eq!(found[0].severity, severity, "{:#?}", found[0]);
        found[0].clone()
    }

    #[track_caller]
    fn passes(claim: &ClaimDocument, rule: &str) {
        let report = scrub(claim);
        assert!(
            report.findings.iter().all(|f| f.rule != rule),
            "{rule} should not fire: {report:#?}"
        );
    }

    #[test]
    fn the_clean_claim_has_no_findings() {
        let report = scrub(&clean_claim());
        assert_eq!(report.findings, Vec::new());
        assert!(report.is_clean());
        assert!(report.errors().is_empty() && report.warnings().is_empty());
    }

    #[test]
    fn warnings_do_not_hold_a_claim_and_errors_do() {
        let mut claim = clean_claim();
        claim.lines[1].modifiers.clear();
        claim.lines[2].modifiers.clear();
        let report = scrub(&claim);
        assert!(report.is_clean());
        assert_eq!(report.warnings().len(), 2);
        claim.lines[0].charge = Cents(0);
        let report = scrub(&claim);
        assert!(!report.is_clean());
        assert_eq!(report.errors().len(), 1);
        assert_eq!(Severity::Error.as_str(), "error");
        assert_eq!(Severity::Warning.as_str(), "warning");
    }

    #[test]
    fn billing_npi_must_be_present_and_valid() {
        let good = clean_claim();
        passes(&good, "billing_npi_check_digit");
        let mut claim = clean_claim();
        claim.billing_provider.npi = None;
        let f = only(&claim, "billing_npi_missing", Severity::Error);
        assert_eq!(f.field, "billing_provider.npi");
        claim.billing_provider.npi = Some("12345".into());
        only(&claim, "billing_npi_format", Severity::Error);
        claim.billing_provider.npi = Some("1234567890".into());
        let f = only(&claim, "billing_npi_check_digit", Severity::Error);
        assert!(f.message.contains("1234567890"), "{}", f.message);
    }

    #[test]
    fn billing_tax_id_must_be_an_ein() {
        let mut claim = clean_claim();
        claim.billing_provider.tax_id = Some("123456789".into());
        passes(&claim, "billing_tax_id_format");
        claim.billing_provider.tax_id = Some(" ".into());
        let f = only(&claim, "billing_tax_id_missing", Severity::Error);
        assert_eq!(f.field, "billing_provider.tax_id");
        claim.billing_provider.tax_id = Some("123-45-6789".into());
        only(&claim, "billing_tax_id_format", Severity::Error);
    }

    #[test]
    fn billing_address_must_be_complete() {
        let good = clean_claim();
        passes(&good, "billing_address_incomplete");
        let mut claim = clean_claim();
        claim.billing_provider.address.city = None;
        let f = only(&claim, "billing_address_incomplete", Severity::Error);
        assert_eq!(f.field, "billing_provider.address.city");
        claim.billing_provider.address.city = Some("Portland".into());
        claim.billing_provider.address.state = Some("Oregon".into());
        let f = only(&claim, "billing_address_invalid", Severity::Error);
        assert_eq!(f.field, "billing_provider.address.state");
    }

    #[test]
    fn rendering_npi_must_be_valid() {
        let mut claim = clean_claim();
        passes(&claim, "rendering_npi_check_digit");
        claim.rendering_provider.npi = "1245319598".into();
        let f = only(&claim, "rendering_npi_check_digit", Severity::Error);
        assert_eq!(f.field, "rendering_provider.npi");
        claim.rendering_provider.npi = String::new();
        only(&claim, "rendering_npi_missing", Severity::Error);
    }

    #[test]
    fn patient_and_subscriber_need_addresses_and_a_plausible_birth_date() {
        let mut claim = clean_claim();
        claim.patient.address.postal_code = None;
        let f = only(&claim, "patient_address_incomplete", Severity::Error);
        assert_eq!(f.field, "patient.address.postal_code");

        let mut claim = clean_claim();
        claim.patient.date_of_birth = date!(2025 - 03 - 05);
        let f = only(
            &claim,
            "patient_date_of_birth_after_service",
            Severity::Error,
        );
        assert_eq!(f.field, "patient.date_of_birth");

        let mut claim = clean_claim();
        let mut subscriber = claim.patient.clone();
        subscriber.first_name = "Alex".into();
        claim.coverage.relationship = SubscriberRelationship::Spouse;
        claim.coverage.subscriber = Some(subscriber);
        passes(&claim, "subscriber_address_incomplete");
        if let Some(s) = claim.coverage.subscriber.as_mut() {
            s.address.line1 = Some("  ".into());
        }
        let f = only(&claim, "subscriber_address_incomplete", Severity::Error);
        assert_eq!(f.field, "coverage.subscriber.address.line1");
    }

    #[test]
    fn a_claim_needs_a_diagnosis_and_a_line() {
        let mut claim = clean_claim();
        claim.diagnoses.clear();
        let f = only(&claim, "claim_has_no_diagnosis", Severity::Error);
        assert_eq!(f.field, "diagnoses");
        let mut claim = clean_claim();
        claim.lines.clear();
        let f = only(&claim, "claim_has_no_lines", Severity::Error);
        assert_eq!(f.field, "lines");
    }

    #[test]
    fn diagnosis_sequences_run_without_gaps() {
        let mut claim = clean_claim();
        claim.diagnoses[1].sequence = 4;
        claim.lines[0].diagnosis_pointers = vec![1, 4];
        claim.lines[1].diagnosis_pointers = vec![1];
        let f = only(&claim, "diagnosis_sequence_gap", Severity::Error);
        assert!(f.message.contains("skip B and C"), "{}", f.message);
        assert!(f.message.contains("Renumber them A and B"), "{}", f.message);

        let mut claim = clean_claim();
        claim.diagnoses[1].sequence = 1;
        let f = only(&claim, "diagnosis_sequence_duplicate", Severity::Error);
        assert_eq!(f.field, "diagnoses[A].sequence");

        let mut claim = clean_claim();
        claim.diagnoses[1].sequence = 13;
        let f = only(&claim, "diagnosis_sequence_out_of_range", Severity::Error);
        assert_eq!(f.field, "diagnoses[13].sequence");
    }

    #[test]
    fn at_most_twelve_diagnoses() {
        let mut claim = clean_claim();
        for sequence in 3..=12 {
            claim.diagnoses.push(ClaimDiagnosis {
                sequence,
                icd10_code: format!("F4{}.0", sequence - 3),
                is_billable: true,
                on_patient_record: true,
            });
        }
        passes(&claim, "too_many_diagnoses");
        claim.diagnoses.push(ClaimDiagnosis {
            sequence: 13,
            icd10_code: "F50.0".into(),
            is_billable: true,
            on_patient_record: true,
        });
        only(&claim, "too_many_diagnoses", Severity::Error);
    }

    #[test]
    fn no_diagnosis_code_twice() {
        let mut claim = clean_claim();
        claim.diagnoses[1].icd10_code = "F411".into();
        let f = only(&claim, "diagnosis_duplicate_code", Severity::Error);
        assert_eq!(f.field, "diagnoses[B].icd10_code");
        assert!(f.message.contains("listed as A"), "{}", f.message);
    }

    #[test]
    fn diagnoses_are_billable_codes_on_the_patients_record() {
        let mut claim = clean_claim();
        claim.diagnoses[1].is_billable = false;
        claim.diagnoses[1].icd10_code = "F33".into();
        let f = only(&claim, "diagnosis_not_billable", Severity::Error);
        assert_eq!(f.field, "diagnoses[B].icd10_code");
        assert!(f.message.contains("F33"), "{}", f.message);

        let mut claim = clean_claim();
        claim.diagnoses[0].on_patient_record = false;
        let f = only(&claim, "diagnosis_not_on_patient_record", Severity::Error);
        assert_eq!(f.field, "diagnoses[A].icd10_code");

        let mut claim = clean_claim();
        claim.diagnoses[0].icd10_code = "41.1".into();
        only(&claim, "diagnosis_code_format", Severity::Error);
        for code in ["F41.1", "F411", "F32.A", "Z63.0", "F43.10", "F10.239"] {
            assert!(icd10_is_well_formed(code), "{code}");
        }
        for code in ["F4", "f41.1", "F41.", "F41.12345", "FF1.1"] {
            assert!(!icd10_is_well_formed(code), "{code}");
        }
    }

    #[test]
    fn each_line_has_one_to_four_distinct_pointers() {
        let mut claim = clean_claim();
        claim.lines[1].diagnosis_pointers.clear();
        let f = only(&claim, "line_pointer_count", Severity::Error);
        assert_eq!(f.field, "lines[2].diagnosis_pointers");
        assert_eq!(f.line_number, Some(2));

        let mut claim = clean_claim();
        for sequence in 3..=5 {
            claim.diagnoses.push(ClaimDiagnosis {
                sequence,
                icd10_code: format!("F4{sequence}.0"),
                is_billable: true,
                on_patient_record: true,
            });
        }
        claim.lines[1].diagnosis_pointers = vec![1, 2, 3, 4];
        claim.lines[0].diagnosis_pointers = vec![1, 5];
        passes(&claim, "line_pointer_count");
        claim.lines[1].diagnosis_pointers = vec![1, 2, 3, 4, 5];
        only(&claim, "line_pointer_count", Severity::Error);

        let mut claim = clean_claim();
        claim.lines[1].diagnosis_pointers = vec![2, 2];
        let f = only(&claim, "line_pointer_duplicate", Severity::Error);
        assert_eq!(f.field, "lines[2].diagnosis_pointers");
    }

    #[test]
    fn pointers_name_an_existing_diagnosis() {
        let mut claim = clean_claim();
        claim.diagnoses.push(ClaimDiagnosis {
            sequence: 3,
            icd10_code: "Z63.0".into(),
            is_billable: true,
            on_patient_record: true,
        });
        claim.lines[1].diagnosis_pointers = vec![3, 5];
        let f = only(&claim, "line_pointer_unknown", Severity::Error);
        assert_eq!(f.field, "lines[2].diagnosis_pointers");
        assert_eq!(
            f.message,
            "Line 2 points at diagnosis E, but the claim has only A-C. Point it at one of A-C."
        );
    }

    #[test]
    fn the_first_line_points_first_at_the_primary_diagnosis() {
        let mut claim = clean_claim();
        claim.lines[0].diagnosis_pointers = vec![2, 1];
        let f = only(&claim, "primary_diagnosis_not_first", Severity::Error);
        assert_eq!(f.field, "lines[1].diagnosis_pointers");
        // Later lines may lead with any diagnosis.
        let mut claim = clean_claim();
        claim.lines[1].diagnosis_pointers = vec![2, 1];
        passes(&claim, "primary_diagnosis_not_first");
    }

    #[test]
    fn a_diagnosis_no_line_points_at_is_a_warning() {
        let mut claim = clean_claim();
        claim.lines[0].diagnosis_pointers = vec![1];
        claim.lines[1].diagnosis_pointers = vec![1];
        let f = only(&claim, "diagnosis_not_pointed_at", Severity::Warning);
        assert_eq!(f.field, "diagnoses[B].icd10_code");
    }

    #[test]
    fn cpt_codes_are_known() {
        let mut claim = clean_claim();
        claim.lines[0].cpt_known = false;
        claim.lines[0].cpt_code = "90999".into();
        let f = only(&claim, "cpt_unknown", Severity::Error);
        assert_eq!(f.field, "lines[1].cpt_code");
        assert!(f.message.contains("90999"));
    }

    #[test]
    fn add_on_codes_need_their_primary_on_the_same_date() {
        let claim = clean_claim();
        passes(&claim, "add_on_without_primary");
        // The primary on another date does not count.
        let mut claim = clean_claim();
        claim.lines[2].service_date = date!(2025 - 03 - 18);
        let f = only(&claim, "add_on_without_primary", Severity::Error);
        assert_eq!(f.field, "lines[3].cpt_code");
        assert!(f.message.contains("90834, 90837"), "{}", f.message);
        // Nor does a code it may not accompany.
        let mut claim = clean_claim();
        claim.lines[1].cpt_code = "90839".into();
        only(&claim, "add_on_without_primary", Severity::Error);
    }

    #[test]
    fn charges_are_positive() {
        let mut claim = clean_claim();
        claim.lines[0].charge = Cents(-100);
        let f = only(&claim, "charge_not_positive", Severity::Error);
        assert_eq!(f.field, "lines[1].charge");
        claim.lines[0].charge = Cents(1);
        passes(&claim, "charge_not_positive");
    }

    #[test]
    fn units_are_one_except_for_codes_counted_in_units() {
        let mut claim = clean_claim();
        claim.lines[0].units = 0;
        only(&claim, "units_out_of_range", Severity::Error);
        claim.lines[0].units = 2;
        let f = only(&claim, "units_single_unit_code", Severity::Error);
        assert_eq!(f.field, "lines[1].units");

        let mut claim = clean_claim();
        let mut screening = line(4, "96127", date!(2025 - 03 - 04), &[1]);
        screening.units = 3;
        claim.lines.push(screening);
        passes(&claim, "units_single_unit_code");
        claim.lines[3].units = 100;
        only(&claim, "units_out_of_range", Severity::Error);
    }

    #[test]
    fn modifiers_are_two_characters_and_at_most_four() {
        let mut claim = clean_claim();
        claim.lines[0].modifiers = vec!["HO".into(), "U4".into()];
        passes(&claim, "modifier_format");
        claim.lines[0].modifiers = vec!["h0".into()];
        let f = only(&claim, "modifier_format", Severity::Error);
        assert_eq!(f.field, "lines[1].modifiers");
        claim.lines[0].modifiers = vec!["HO".into(), "HO".into()];
        only(&claim, "modifier_duplicate", Severity::Error);
        claim.lines[0].modifiers = ["HO", "U1", "U2", "U3", "U4"].map(String::from).to_vec();
        only(&claim, "too_many_modifiers", Severity::Error);
    }

    #[test]
    fn places_of_service_are_two_digits() {
        let mut claim = clean_claim();
        claim.lines[0].place_of_service = "1".into();
        let f = only(&claim, "place_of_service_format", Severity::Error);
        assert_eq!(f.field, "lines[1].place_of_service");
        let mut claim = clean_claim();
        claim.place_of_service = "office".into();
        let f = only(&claim, "place_of_service_format", Severity::Error);
        assert_eq!(f.field, "place_of_service");
    }

    #[test]
    fn telehealth_modifiers_and_places_agree() {
        let mut claim = clean_claim();
        claim.lines[0].modifiers = vec!["93".into()];
        let f = only(
            &claim,
            "telehealth_modifier_place_of_service",
            Severity::Error,
        );
        assert_eq!(f.field, "lines[1].place_of_service");
        claim.lines[0].place_of_service = "02".into();
        passes(&claim, "telehealth_modifier_place_of_service");

        let mut claim = clean_claim();
        claim.lines[1].modifiers.clear();
        claim.lines[2].modifiers.clear();
        let report = scrub(&claim);
        assert_eq!(
            rules(&report, Severity::Warning),
            vec![
                "telehealth_place_without_modifier",
                "telehealth_place_without_modifier"
            ]
        );
    }

    #[test]
    fn service_dates_fall_inside_the_coverage() {
        let mut claim = clean_claim();
        claim.coverage.effective_from = date!(2025 - 03 - 05);
        let report = scrub(&claim);
        let before: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == "service_before_coverage")
            .collect();
        assert_eq!(before.len(), 1, "{report:#?}");
        assert_eq!(before[0].line_number, Some(1));

        let mut claim = clean_claim();
        claim.coverage.effective_to = Some(date!(2025 - 03 - 10));
        let report = scrub(&claim);
        let after: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == "service_after_coverage")
            .map(|f| f.line_number)
            .collect();
        assert_eq!(after, vec![Some(2), Some(3)]);
        claim.coverage.effective_to = Some(date!(2025 - 03 - 11));
        passes(&claim, "service_after_coverage");
    }

    #[test]
    fn service_dates_fall_inside_a_dated_authorization_for_codes_in_its_scope() {
        let mut claim = clean_claim();
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.end = Some(date!(2025 - 03 - 10));
        }
        let report = scrub(&claim);
        let after: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.rule == "service_after_authorization")
            .map(|f| f.line_number)
            .collect();
        assert_eq!(after, vec![Some(2), Some(3)]);

        // Only 90837 is authorized: the video session's lines are outside its scope.
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.cpt_codes = vec!["90837".into()];
        }
        passes(&claim, "service_after_authorization");
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.start = Some(date!(2025 - 03 - 05));
        }
        only(&claim, "service_before_authorization", Severity::Error);

        // An authorization without dates limits nothing.
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.start = None;
            auth.end = None;
        }
        passes(&claim, "service_before_authorization");
    }

    #[test]
    fn prior_authorization_number_where_the_payer_requires_one() {
        let mut claim = clean_claim();
        claim.prior_authorization_number = None;
        // The coverage's authorization number is enough.
        passes(&claim, "prior_authorization_missing");
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.number = None;
        }
        let f = only(&claim, "prior_authorization_missing", Severity::Error);
        assert_eq!(f.field, "prior_authorization_number");
        claim.coverage.payer_requires_prior_authorization = false;
        passes(&claim, "prior_authorization_missing");
    }

    #[test]
    fn sessions_are_distinct_dates_in_the_authorizations_scope() {
        let mut claim = clean_claim();
        // 03/04 and 03/11 (two lines that day): two sessions.
        assert_eq!(sessions_on_claim(&claim), 2);
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.cpt_codes = vec!["90834".into()];
        }
        assert_eq!(sessions_on_claim(&claim), 1);
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.cpt_codes = vec!["90791".into()];
        }
        assert_eq!(sessions_on_claim(&claim), 0);
        claim.coverage.authorization = None;
        assert_eq!(sessions_on_claim(&claim), 2);
    }

    fn with_usage(authorized: u32, used: u32) -> ClaimDocument {
        let mut claim = clean_claim();
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.authorized_sessions = Some(authorized);
            auth.sessions_used = used;
        }
        claim
    }

    #[test]
    fn past_the_authorized_sessions_the_claim_is_held() {
        // 11 used + 2 on this claim = 13 of 12.
        let claim = with_usage(12, 11);
        let f = only(&claim, "authorization_sessions_exceeded", Severity::Error);
        assert!(f.message.contains("held"), "{}", f.message);
        assert!(f.message.contains("13 of 12"), "{}", f.message);
        // Exactly at the limit is allowed (with the 80% warning).
        let claim = with_usage(12, 10);
        passes(&claim, "authorization_sessions_exceeded");
    }

    #[test]
    fn an_admins_override_turns_the_hold_into_a_warning() {
        let mut claim = with_usage(12, 11);
        claim.authorization_override_reason = Some("Payer extension pending, ref 8812".into());
        let f = only(
            &claim,
            "authorization_sessions_exceeded_overridden",
            Severity::Warning,
        );
        assert!(f.message.contains("ref 8812"), "{}", f.message);
        passes(&claim, "authorization_sessions_exceeded");
        // A blank reason is no override.
        claim.authorization_override_reason = Some("  ".into());
        only(&claim, "authorization_sessions_exceeded", Severity::Error);
    }

    #[test]
    fn eighty_percent_of_the_sessions_is_a_warning() {
        // 6 + 2 = 8 of 10: 80%.
        let f = only(
            &with_usage(10, 6),
            "authorization_sessions_nearly_used",
            Severity::Warning,
        );
        assert!(f.message.contains("8 of the 10"), "{}", f.message);
        assert!(f.message.contains("80%"), "{}", f.message);
        // 5 + 2 = 7 of 10: 70%.
        passes(&with_usage(10, 5), "authorization_sessions_nearly_used");
        // Without a session count there is nothing to measure.
        let mut claim = with_usage(10, 9);
        if let Some(auth) = claim.coverage.authorization.as_mut() {
            auth.authorized_sessions = None;
        }
        passes(&claim, "authorization_sessions_nearly_used");
        passes(&claim, "authorization_sessions_exceeded");
    }

    #[test]
    fn every_line_bills_a_completed_signed_and_cosigned_session() {
        let mut claim = clean_claim();
        claim.lines[0].documentation.completed = false;
        let f = only(&claim, "encounter_not_completed", Severity::Error);
        assert_eq!(f.field, "lines[1].documentation");
        assert!(f.message.contains("03/04/2025"), "{}", f.message);

        let mut claim = clean_claim();
        claim.lines[1].documentation.note_signed = false;
        let f = only(&claim, "note_not_signed", Severity::Error);
        assert!(f.message.starts_with("Line 2"), "{}", f.message);

        let mut claim = clean_claim();
        claim.lines[2].documentation.needs_cosignature = true;
        let f = only(&claim, "note_not_cosigned", Severity::Error);
        assert_eq!(f.line_number, Some(3));
        claim.lines[2].documentation.cosigned = true;
        passes(&claim, "note_not_cosigned");
    }

    #[test]
    fn line_numbers_are_unique() {
        let mut claim = clean_claim();
        claim.lines[2].line_number = 2;
        only(&claim, "line_number_duplicate", Severity::Error);
    }

    #[test]
    fn member_and_payer_ids_are_present() {
        let mut claim = clean_claim();
        claim.coverage.member_id = String::new();
        let f = only(&claim, "member_id_missing", Severity::Error);
        assert_eq!(f.field, "coverage.member_id");
        claim.coverage.payer_id = " ".into();
        only(&claim, "payer_id_missing", Severity::Error);
    }
}
