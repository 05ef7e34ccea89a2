//! The CMS-1500 PDF as a payer's mailroom receives it: a well-formed PDF, one page per six lines,
//! the claim's numbers where the form wants them.
//!
//! The content streams are written uncompressed, so what is printed can be read from the bytes.
//! A sample is written to `target/test-output/cms1500/` for a person to look at.

use std::path::PathBuf;

use indra_rules::billing::claim_document::{
    Address, Authorization, BillingProvider, Cents, ClaimCoverage, ClaimDiagnosis, ClaimDocument,
    ClaimLine, ClaimPerson, ClaimSex, EncounterDocumentation, RenderingProvider,
    SubscriberRelationship,
};
use indra_rules::billing::cms1500::{Cms1500Options, form_money, render_cms1500};
use indra_rules::billing::scrubber::scrub;
use indra_rules::platform::npi::npi_with_check_digit;
use time::Date;
use time::macros::date;

const PLAIN: Cms1500Options = Cms1500Options { plain_paper: true };
const RED: Cms1500Options = Cms1500Options { plain_paper: false };

fn address(line1: &str, city: &str, state: &str, zip: &str) -> Address {
    Address {
        line1: Some(line1.into()),
        line2: None,
        city: Some(city.into()),
        state: Some(state.into()),
        postal_code: Some(zip.into()),
    }
}

fn service(number: u16, cpt: &str, service_date: Date, charge: i64) -> ClaimLine {
    ClaimLine {
        line_number: number,
        cpt_code: cpt.into(),
        is_add_on: false,
        add_on_to: Vec::new(),
        cpt_known: true,
        modifiers: Vec::new(),
        units: 1,
        charge: Cents(charge),
        service_date,
        place_of_service: "11".into(),
        diagnosis_pointers: vec![1, 2],
        documentation: EncounterDocumentation {
            completed: true,
            note_signed: true,
            needs_cosignature: false,
            cosigned: false,
        },
    }
}

/// A claim for weekly sessions, `lines` of them, each charged differently so pages' totals tell.
fn claim(number: &str, lines: u16) -> ClaimDocument {
    let mut services: Vec<ClaimLine> = (1..=lines)
        .map(|n| {
            let day = date!(2025 - 02 - 03)
                .checked_add(time::Duration::weeks(i64::from(n - 1)))
                .expect("a date in 2025");
            service(n, "90837", day, 15000 + i64::from(n) * 100)
        })
        .collect();
    if let Some(first) = services.first_mut() {
        first.modifiers = vec!["95".into()];
        first.place_of_service = "10".into();
    }
    ClaimDocument {
        claim_number: number.into(),
        patient_account_number: "MRN-0042".into(),
        billing_provider: BillingProvider {
            organization_name: "Riverbend Counseling".into(),
            npi: Some(npi_with_check_digit("123456789")),
            tax_id: Some("12-3456789".into()),
            address: address("100 Main St", "Portland", "OR", "97201-1234"),
            phone: Some("(503) 555-0100".into()),
        },
        rendering_provider: RenderingProvider {
            first_name: "Maya".into(),
            last_name: "Okafor".into(),
            credentials: "LCSW".into(),
            npi: npi_with_check_digit("124531959"),
            taxonomy_code: None,
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
            group_number: Some("GRP77".into()),
            relationship: SubscriberRelationship::Myself,
            subscriber: None,
            effective_from: date!(2025 - 01 - 01),
            effective_to: None,
            authorization: Some(Authorization {
                number: Some("AUTH5521".into()),
                start: None,
                end: None,
                cpt_codes: Vec::new(),
                authorized_sessions: Some(30),
                sessions_used: 0,
            }),
        },
        place_of_service: "11".into(),
        prior_authorization_number: Some("AUTH5521".into()),
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
        lines: services,
    }
}

fn text(pdf: &[u8]) -> String {
    String::from_utf8_lossy(pdf).into_owned()
}

/// Page objects (`/Type /Page`, not the `/Type /Pages` tree).
fn page_count(pdf: &[u8]) -> usize {
    let text = text(pdf);
    text.match_indices("/Type /Page")
        .filter(|(at, m)| !text[at + m.len()..].starts_with('s'))
        .count()
}

/// The content streams, in page order (the only streams the renderer writes).
fn page_contents(pdf: &[u8]) -> Vec<String> {
    let text = text(pdf);
    text.split("\nstream\n")
        .skip(1)
        .filter_map(|rest| {
            rest.split_once("\nendstream")
                .map(|(body, _)| body.to_owned())
        })
        .collect()
}

/// What a content stream shows for `value` (a literal string operand).
fn shown(value: &str) -> String {
    format!("({value}) Tj")
}

#[test]
fn the_pdf_is_well_formed() {
    let pdf = render_cms1500(&[claim("CLM-000123", 3)], &PLAIN);
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(text(&pdf).trim_end().ends_with("%%EOF"));
    assert_eq!(page_count(&pdf), 1);
}

#[test]
fn a_claim_with_eight_lines_takes_two_pages_each_with_its_own_total() {
    let claim = claim("CLM-000124", 8);
    assert!(scrub(&claim).is_clean(), "{:#?}", scrub(&claim));
    let pdf = render_cms1500(std::slice::from_ref(&claim), &RED);
    assert_eq!(page_count(&pdf), 2);
    assert!(text(&pdf).contains("/Count 2"));

    let pages = page_contents(&pdf);
    assert_eq!(pages.len(), 2);
    // Lines 1-6 on the first page, 7-8 on the second, each charge on its own page only.
    for line in &claim.lines {
        let charge = shown(&form_money(line.charge));
        let on = usize::from(line.line_number > 6);
        assert!(pages[on].contains(&charge), "line {}", line.line_number);
        assert!(
            !pages[1 - on].contains(&charge),
            "line {}",
            line.line_number
        );
    }
    let first_total: Cents = claim.lines[..6].iter().map(|l| l.charge).sum();
    let second_total: Cents = claim.lines[6..].iter().map(|l| l.charge).sum();
    assert!(pages[0].contains(&shown(&form_money(first_total))));
    assert!(pages[1].contains(&shown(&form_money(second_total))));
    assert!(!pages[0].contains(&shown(&form_money(claim.total_charge()))));
    assert!(pages[0].contains(&shown("PAGE 1 OF 2")));
    assert!(pages[1].contains(&shown("PAGE 2 OF 2")));
    // Everything outside box 24 is repeated on the continuation page.
    for page in &pages {
        assert!(page.contains(&shown("CLM-000124")));
        assert!(page.contains(&shown("F411")));
    }
}

#[test]
fn three_claims_take_three_pages() {
    let claims = [claim("CLM-1", 1), claim("CLM-2", 6), claim("CLM-3", 2)];
    let pdf = render_cms1500(&claims, &RED);
    assert_eq!(page_count(&pdf), 3);
    let pages = page_contents(&pdf);
    for (page, claim) in pages.iter().zip(&claims) {
        assert!(page.contains(&shown(&claim.claim_number)));
        assert!(page.contains(&shown("PAGE 1 OF 1")));
    }
}

#[test]
fn the_claims_data_lands_in_its_boxes() {
    let claim = claim("CLM-000125", 2);
    let pdf = render_cms1500(std::slice::from_ref(&claim), &RED);
    let page = &page_contents(&pdf)[0];
    let rendering_npi = npi_with_check_digit("124531959");
    let billing_npi = npi_with_check_digit("123456789");
    for expected in [
        "CLM-000125",        // 26
        "XJ123456789",       // 1a
        "RIVERA, SAM",       // 2 and 4
        "F411",              // 21 A, without the period
        "F331",              // 21 B
        "0",                 // 21 ICD indicator
        "AUTH5521",          // 23
        "90837",             // 24D
        "95",                // 24D modifier
        "AB",                // 24E
        "123456789",         // 25, without the hyphen
        "SIGNATURE ON FILE", // 12, 13
        "MAYA OKAFOR, LCSW", // 31
        "RIVERBEND COUNSELING",
        "555-0100",
        &rendering_npi,
        &billing_npi,
        &form_money(claim.total_charge()),
    ] {
        assert!(page.contains(&shown(expected)), "{expected} not printed");
    }
    assert!(!page.contains("F41.1"));
    // The rendering NPI in 24J of each line, the billing NPI in 32a and 33a.
    assert_eq!(page.matches(&shown(&rendering_npi)).count(), 2);
    assert_eq!(page.matches(&shown(&billing_npi)).count(), 2);
}

#[test]
fn plain_paper_draws_the_form_and_the_red_form_gets_only_data() {
    let claims = [claim("CLM-000126", 2)];
    let plain = page_contents(&render_cms1500(&claims, &PLAIN)).remove(0);
    let red = page_contents(&render_cms1500(&claims, &RED)).remove(0);
    for caption in [
        "HEALTH INSURANCE CLAIM FORM",
        "2. PATIENT'S NAME",
        "23. PRIOR AUTHORIZATION NUMBER",
        "33. BILLING PROVIDER INFO",
    ] {
        assert!(plain.contains(caption), "{caption} missing on plain paper");
        assert!(!red.contains(caption), "{caption} printed on the red form");
    }
    // Boxes are stroked rectangles on plain paper; the red form has its own.
    assert!(plain.contains(" re\nS"));
    assert!(!red.contains(" re\n"));
    // The data is the same either way.
    for value in ["CLM-000126", "F411", "RIVERA, SAM"] {
        assert!(plain.contains(&shown(value)) && red.contains(&shown(value)));
    }
}

#[test]
fn writes_a_sample_for_people_to_look_at() {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("test-output/cms1500");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    let claims = [claim("CLM-000127", 8), claim("CLM-000128", 3)];
    let plain = render_cms1500(&claims, &PLAIN);
    let red = render_cms1500(&claims, &RED);
    assert_eq!(page_count(&plain), 3);
    std::fs::write(dir.join("sample.pdf"), &plain).expect("write the sample");
    std::fs::write(dir.join("sample-red-form.pdf"), &red).expect("write the sample");
}
