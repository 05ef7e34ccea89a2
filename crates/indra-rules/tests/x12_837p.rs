//! The 837P writer, checked twice: structurally here (envelopes, counts, hierarchy, escaping) and
//! against an independent implementation of the 005010X222A1 guide, pyx12's x12valid, through
//! scripts/x12valid. Every claim, person and number below is fictitious.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

use indra_rules::billing::claim_document::{
    Address, Authorization, BillingProvider, Cents, ClaimCoverage, ClaimDiagnosis, ClaimDocument,
    ClaimLine, ClaimPerson, ClaimSex, EncounterDocumentation, RenderingProvider,
    SubscriberRelationship,
};
use indra_rules::x12::{Envelope837, X12Error, write_837p};
use time::macros::{date, datetime};

// ---------------------------------------------------------------------------------------------
// Fictitious claims
// ---------------------------------------------------------------------------------------------

fn envelope() -> Envelope837 {
    Envelope837 {
        interchange_control_number: 42,
        group_control_number: 7,
        transaction_set_control_number: 3,
        sender_id: "INDRA0001".into(),
        receiver_id: "CLEARHOUSE".into(),
        submitter_name: "Willow Creek Counseling".into(),
        submitter_contact_name: "Pat Biller".into(),
        submitter_contact_phone: "5035550100".into(),
        receiver_name: "Example Clearinghouse".into(),
        created_at: datetime!(2025-03-04 09:15),
        production: false,
        batch_reference: "BATCH20250304".into(),
    }
}

fn address(line1: &str, city: &str, state: &str, zip: &str) -> Address {
    Address {
        line1: Some(line1.into()),
        line2: None,
        city: Some(city.into()),
        state: Some(state.into()),
        postal_code: Some(zip.into()),
    }
}

fn diagnosis(sequence: u8, code: &str) -> ClaimDiagnosis {
    ClaimDiagnosis {
        sequence,
        icd10_code: code.into(),
        is_billable: true,
        on_patient_record: true,
    }
}

fn line(
    number: u16,
    cpt: &str,
    modifiers: &[&str],
    units: u32,
    charge: i64,
    pointers: &[u8],
) -> ClaimLine {
    ClaimLine {
        line_number: number,
        cpt_code: cpt.into(),
        is_add_on: false,
        add_on_to: Vec::new(),
        cpt_known: true,
        modifiers: modifiers.iter().map(|m| (*m).to_owned()).collect(),
        units,
        charge: Cents(charge),
        service_date: date!(2025 - 02 - 20),
        place_of_service: "11".into(),
        diagnosis_pointers: pointers.to_vec(),
        documentation: EncounterDocumentation {
            completed: true,
            note_signed: true,
            needs_cosignature: false,
            cosigned: false,
        },
    }
}

/// An adult who holds her own policy, one 90837 psychotherapy hour in the office.
fn self_subscriber_claim(claim_number: &str) -> ClaimDocument {
    ClaimDocument {
        claim_number: claim_number.into(),
        patient_account_number: "MRN000123".into(),
        billing_provider: BillingProvider {
            organization_name: "Willow Creek Counseling LLC".into(),
            npi: Some("1245319599".into()),
            tax_id: Some("93-1234567".into()),
            address: address("100 Main St", "Portland", "OR", "97201-1234"),
            phone: Some("5035550100".into()),
        },
        rendering_provider: RenderingProvider {
            first_name: "Dana".into(),
            last_name: "Rivera".into(),
            credentials: "LCSW".into(),
            npi: "1234567893".into(),
            taxonomy_code: Some("1041C0700X".into()),
        },
        patient: ClaimPerson {
            first_name: "Alex".into(),
            last_name: "Sample".into(),
            date_of_birth: date!(1988 - 06 - 15),
            sex: ClaimSex::Female,
            address: address("22 Oak Ave", "Portland", "OR", "97202"),
        },
        coverage: ClaimCoverage {
            payer_name: "Example Health Plan".into(),
            payer_id: "EXH01".into(),
            payer_address: address("PO Box 1000", "Salem", "OR", "97301"),
            payer_requires_prior_authorization: false,
            priority_rank: 1,
            member_id: "XYZ123456789".into(),
            group_number: Some("GRP7788".into()),
            relationship: SubscriberRelationship::Myself,
            subscriber: None,
            effective_from: date!(2025 - 01 - 01),
            effective_to: None,
            authorization: None,
        },
        place_of_service: "11".into(),
        prior_authorization_number: None,
        authorization_override_reason: None,
        diagnoses: vec![diagnosis(1, "F41.1"), diagnosis(2, "F33.1")],
        lines: vec![line(1, "90837", &[], 1, 18000, &[1, 2])],
    }
}

/// A 12-year-old on his mother's policy: 2000C patient loop under her 2000B.
fn dependent_child_claim() -> ClaimDocument {
    let mut claim = self_subscriber_claim("CLM-2002");
    claim.patient = ClaimPerson {
        first_name: "Sam".into(),
        last_name: "Sample".into(),
        date_of_birth: date!(2012 - 09 - 01),
        sex: ClaimSex::Male,
        address: address("22 Oak Ave", "Portland", "OR", "97202"),
    };
    claim.coverage.relationship = SubscriberRelationship::Child;
    claim.coverage.subscriber = Some(ClaimPerson {
        first_name: "Jordan".into(),
        last_name: "Sample".into(),
        date_of_birth: date!(1980 - 02 - 29),
        sex: ClaimSex::Female,
        address: address("22 Oak Ave", "Portland", "OR", "97202"),
    });
    claim.diagnoses = vec![diagnosis(1, "F90.2")];
    claim.lines = vec![line(1, "90834", &[], 1, 13000, &[1])];
    claim
}

/// A telehealth session from the patient's home: modifier 95 and POS 10 on claim and line.
fn video_session_claim() -> ClaimDocument {
    let mut claim = self_subscriber_claim("CLM-2003");
    claim.place_of_service = "10".into();
    claim.lines = vec![line(1, "90837", &["95"], 1, 18000, &[1])];
    claim.lines[0].place_of_service = "10".into();
    claim
}

/// Psychiatric E/M with add-on psychotherapy 90833.
fn em_with_add_on_claim() -> ClaimDocument {
    let mut claim = self_subscriber_claim("CLM-2004");
    claim.rendering_provider.taxonomy_code = Some("2084P0800X".into());
    let mut add_on = line(2, "90833", &[], 1, 9500, &[1]);
    add_on.is_add_on = true;
    add_on.add_on_to = vec!["99214".into()];
    claim.lines = vec![line(1, "99214", &[], 1, 16000, &[1, 2]), add_on];
    claim
}

/// Crisis psychotherapy: the first 60 minutes (90839) and two add-on 30-minute units (90840).
fn crisis_claim() -> ClaimDocument {
    let mut claim = self_subscriber_claim("CLM-2005");
    claim.diagnoses = vec![diagnosis(1, "F43.0"), diagnosis(2, "R45.851")];
    claim.lines = vec![
        line(1, "90839", &[], 1, 25000, &[1, 2]),
        line(2, "90840", &[], 2, 24000, &[1]),
    ];
    claim
}

/// Twelve diagnoses, the most HI carries, and a line pointing at the last four.
fn twelve_diagnoses_claim() -> ClaimDocument {
    let mut claim = self_subscriber_claim("CLM-2006");
    let codes = [
        "F33.1", "F41.1", "F43.10", "F90.2", "F50.01", "F42.2", "F40.10", "F51.01", "F10.20",
        "Z63.0", "Z56.0", "F17.210",
    ];
    claim.diagnoses = codes
        .iter()
        .zip(1u8..)
        .map(|(code, seq)| diagnosis(seq, code))
        .collect();
    claim.lines = vec![
        line(1, "90791", &[], 1, 22000, &[1, 2, 3, 4]),
        line(2, "90837", &[], 1, 18000, &[9, 10, 11, 12]),
    ];
    claim
}

/// A payer that requires prior authorization: REF*G1 in loop 2300.
fn prior_authorization_claim() -> ClaimDocument {
    let mut claim = self_subscriber_claim("CLM-2007");
    claim.coverage.payer_requires_prior_authorization = true;
    claim.coverage.authorization = Some(Authorization {
        number: Some("PA55501".into()),
        start: Some(date!(2025 - 01 - 01)),
        end: Some(date!(2025 - 06 - 30)),
        cpt_codes: vec!["90837".into()],
        authorized_sessions: Some(12),
        sessions_used: 3,
    });
    claim.prior_authorization_number = Some("PA55501".into());
    claim
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn segments(x12: &str) -> Vec<Vec<&str>> {
    x12.split('~')
        .filter(|s| !s.is_empty())
        .map(|s| s.split('*').collect())
        .collect()
}

fn find<'a>(segs: &'a [Vec<&'a str>], id: &str) -> Vec<&'a Vec<&'a str>> {
    segs.iter().filter(|s| s[0] == id).collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("test-output/x12");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_file(name: &str, content: &str) -> PathBuf {
    let path = output_dir().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Runs scripts/x12valid; returns whether the file is valid and what the validator said.
fn validate(path: &Path) -> (bool, String) {
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/x12valid"))
        .arg(path)
        .output()
        .expect("scripts/x12valid runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

fn assert_valid(name: &str, claims: &[ClaimDocument]) -> String {
    let x12 = write_837p(&envelope(), claims).unwrap();
    let path = write_file(name, &x12);
    let (valid, said) = validate(&path);
    assert!(valid, "x12valid rejected {}:\n{said}", path.display());
    x12
}

// ---------------------------------------------------------------------------------------------
// Validated by pyx12
// ---------------------------------------------------------------------------------------------

#[test]
fn self_subscriber_claim_is_valid_837p() {
    let x12 = assert_valid("self_subscriber.837", &[self_subscriber_claim("CLM-2001")]);
    let segs = segments(&x12);
    let sbr = find(&segs, "SBR");
    assert_eq!(
        sbr[0][1..],
        ["P", "18", "GRP7788", "", "", "", "", "", "CI"]
    );
    assert!(
        find(&segs, "PAT").is_empty(),
        "no patient loop when the patient is the subscriber"
    );
    assert!(x12.contains("NM1*IL*1*Sample*Alex****MI*XYZ123456789~"));
    assert!(x12.contains("DMG*D8*19880615*F~"));
    assert!(x12.contains("REF*EI*931234567~"), "EIN without its dash");
    assert!(x12.contains("N4*Portland*OR*972011234~"));
    assert!(x12.contains("CLM*CLM-2001*180***11:B:1*Y*A*Y*Y~"));
    assert!(x12.contains("NM1*82*1*Rivera*Dana****XX*1234567893~PRV*PE*PXC*1041C0700X~"));
    assert!(x12.contains("SV1*HC:90837*180*UN*1***1:2~DTP*472*D8*20250220~REF*6R*CLM-2001-1~"));
}

#[test]
fn dependent_child_gets_a_patient_loop_under_the_parent() {
    let x12 = assert_valid("dependent_child.837", &[dependent_child_claim()]);
    let segs = segments(&x12);
    let hl = find(&segs, "HL");
    assert_eq!(hl.len(), 3);
    assert_eq!(hl[0][1..], ["1", "", "20", "1"]);
    assert_eq!(
        hl[1][1..],
        ["2", "1", "22", "1"],
        "subscriber says a patient HL follows"
    );
    assert_eq!(
        hl[2][1..],
        ["3", "2", "23", "0"],
        "patient under the subscriber"
    );
    assert_eq!(
        find(&segs, "SBR")[0][1..3],
        ["P", ""],
        "SBR02 empty: the relationship is in PAT01"
    );
    assert_eq!(find(&segs, "PAT")[0][1..], ["19"]);
    assert!(x12.contains("NM1*IL*1*Sample*Jordan****MI*XYZ123456789~"));
    assert!(x12.contains("NM1*QC*1*Sample*Sam~"));
    assert!(x12.contains("DMG*D8*20120901*M~"));
}

#[test]
fn video_session_carries_modifier_95_and_pos_10() {
    let x12 = assert_valid("video_session.837", &[video_session_claim()]);
    assert!(x12.contains("CLM*CLM-2003*180***10:B:1*Y*A*Y*Y~"));
    // The line's place equals the claim's, so SV105 stays empty.
    assert!(x12.contains("SV1*HC:90837:95*180*UN*1***1~"));
}

#[test]
fn line_place_of_service_is_written_only_when_it_differs() {
    let mut claim = video_session_claim();
    claim.lines.push(line(2, "90832", &[], 1, 9000, &[1]));
    let x12 = assert_valid("mixed_place.837", &[claim]);
    assert!(x12.contains("SV1*HC:90832*90*UN*1*11**1~"));
}

#[test]
fn em_with_psychotherapy_add_on_is_valid() {
    let x12 = assert_valid("em_add_on.837", &[em_with_add_on_claim()]);
    assert!(x12.contains("CLM*CLM-2004*255***"));
    assert!(x12.contains("SV1*HC:99214*160*UN*1***1:2~"));
    assert!(x12.contains("SV1*HC:90833*95*UN*1***1~"));
    assert!(x12.contains("REF*6R*CLM-2004-2~"));
}

#[test]
fn crisis_with_two_add_on_units_is_valid() {
    let x12 = assert_valid("crisis.837", &[crisis_claim()]);
    assert!(x12.contains("HI*ABK:F430*ABF:R45851~"));
    assert!(x12.contains("SV1*HC:90840*240*UN*2***1~"));
    assert!(x12.contains("CLM*CLM-2005*490***"));
}

#[test]
fn twelve_diagnoses_are_valid_and_pointed_to_by_position() {
    let x12 = assert_valid("twelve_diagnoses.837", &[twelve_diagnoses_claim()]);
    let segs = segments(&x12);
    let hi = find(&segs, "HI");
    assert_eq!(hi[0].len(), 13);
    assert_eq!(hi[0][1], "ABK:F331");
    assert_eq!(hi[0][12], "ABF:F17210");
    assert!(hi[0][2..].iter().all(|d| d.starts_with("ABF:")));
    assert!(x12.contains("SV1*HC:90837*180*UN*1***9:10:11:12~"));
}

#[test]
fn prior_authorization_is_sent_as_ref_g1() {
    let x12 = assert_valid("prior_authorization.837", &[prior_authorization_claim()]);
    assert!(x12.contains("CLM*CLM-2007*180***11:B:1*Y*A*Y*Y~REF*G1*PA55501~HI*"));
}

#[test]
fn several_claims_share_one_billing_provider() {
    let claims = [
        self_subscriber_claim("CLM-2001"),
        dependent_child_claim(),
        video_session_claim(),
        crisis_claim(),
    ];
    let x12 = assert_valid("several_claims.837", &claims);
    let segs = segments(&x12);
    let hl: Vec<_> = find(&segs, "HL").iter().map(|h| h[1..].join("*")).collect();
    assert_eq!(
        hl,
        [
            "1**20*1", "2*1*22*0", "3*1*22*1", "4*3*23*0", "5*1*22*0", "6*1*22*0"
        ],
        "every subscriber under HL 1, the child's patient HL under its subscriber"
    );
    assert_eq!(find(&segs, "CLM").len(), 4);
    assert_eq!(
        find(&segs, "NM1").iter().filter(|n| n[1] == "85").count(),
        1
    );
}

#[test]
fn secondary_coverage_is_payer_responsibility_s() {
    let mut claim = self_subscriber_claim("CLM-2008");
    claim.coverage.priority_rank = 2;
    claim.coverage.group_number = None;
    let x12 = assert_valid("secondary.837", &[claim]);
    assert!(x12.contains("SBR*S*18*******CI~"));
}

/// The validator must be able to say no, or the tests above would prove nothing.
#[test]
fn the_validator_rejects_a_broken_837p() {
    let x12 = write_837p(&envelope(), &[self_subscriber_claim("CLM-2099")]).unwrap();
    // Drop the subscriber's name (a required segment) and leave SE's count as it was.
    let broken = x12.replace("NM1*IL*1*Sample*Alex****MI*XYZ123456789~", "");
    assert_ne!(broken, x12);
    let path = write_file("broken.837", &broken);
    let (valid, said) = validate(&path);
    assert!(
        !valid,
        "x12valid accepted a claim without its subscriber:\n{said}"
    );
    assert!(
        said.contains("ERROR"),
        "the validator names the error:\n{said}"
    );
}

// ---------------------------------------------------------------------------------------------
// Structure, without the validator
// ---------------------------------------------------------------------------------------------

#[test]
fn control_numbers_match_between_headers_and_trailers() {
    let x12 = write_837p(&envelope(), &[self_subscriber_claim("CLM-2001")]).unwrap();
    let segs = segments(&x12);
    let isa = &segs[0];
    assert_eq!(isa[0], "ISA");
    assert_eq!(isa[13], "000000042");
    assert_eq!(isa[15], "T");
    assert_eq!(isa[6], "INDRA0001      ", "ISA06 padded to 15");
    assert_eq!(isa[9..11], ["250304", "0915"]);
    let gs = find(&segs, "GS")[0];
    assert_eq!(gs[6], "7");
    assert_eq!(gs[8], "005010X222A1");
    let st = find(&segs, "ST")[0];
    assert_eq!(st[1..], ["837", "0003", "005010X222A1"]);
    assert_eq!(find(&segs, "SE")[0][2], "0003");
    assert_eq!(find(&segs, "GE")[0][1..], ["1", "7"]);
    assert_eq!(find(&segs, "IEA")[0][1..], ["1", "000000042"]);
}

#[test]
fn isa_is_fixed_width_with_declared_delimiters() {
    let x12 = write_837p(&envelope(), &[self_subscriber_claim("CLM-2001")]).unwrap();
    let isa = x12.split('~').next().unwrap();
    // 105 characters, then the terminator: readers find the delimiters by position.
    assert_eq!(isa.len(), 105);
    assert_eq!(&isa[3..4], "*");
    assert_eq!(&isa[82..83], "^", "ISA11 repetition separator");
    assert_eq!(&isa[104..105], ":", "ISA16 component separator");
}

#[test]
fn se_counts_the_segments_from_st_to_se() {
    let claims = [
        self_subscriber_claim("CLM-2001"),
        dependent_child_claim(),
        crisis_claim(),
    ];
    let x12 = write_837p(&envelope(), &claims).unwrap();
    let segs = segments(&x12);
    let st = segs.iter().position(|s| s[0] == "ST").unwrap();
    let se = segs.iter().position(|s| s[0] == "SE").unwrap();
    assert_eq!(segs[se][1], (se - st + 1).to_string());
    assert_eq!(segs.len(), se + 3, "then only GE and IEA");
}

#[test]
fn production_flag_sets_isa15() {
    let mut e = envelope();
    e.production = true;
    let x12 = write_837p(&e, &[self_subscriber_claim("CLM-2001")]).unwrap();
    assert_eq!(segments(&x12)[0][15], "P");
}

#[test]
fn icd_codes_lose_their_dot() {
    let x12 = write_837p(&envelope(), &[self_subscriber_claim("CLM-2001")]).unwrap();
    assert!(x12.contains("HI*ABK:F411*ABF:F331~"));
    assert!(
        !find(&segments(&x12), "HI")[0]
            .iter()
            .any(|e| e.contains('.'))
    );
}

#[test]
fn delimiters_in_values_are_refused_naming_claim_and_element() {
    type Break = fn(&mut ClaimDocument);
    let cases: [(&str, Break); 5] = [
        ("2010BA NM103 last name", |c| {
            c.patient.last_name = "Sam*ple".into()
        }),
        ("2010BA NM109 member id", |c| {
            c.coverage.member_id = "XYZ~1".into()
        }),
        ("2300 REF02 prior authorization", |c| {
            c.prior_authorization_number = Some("PA:1".into())
        }),
        ("2400 line 1 SV101-3 modifier", |c| {
            c.lines[0].modifiers = vec!["9^5".into()]
        }),
        ("2010BB NM103 payer name", |c| {
            c.coverage.payer_name = "Health\nPlan".into()
        }),
    ];
    for (element, break_it) in cases {
        let mut claim = self_subscriber_claim("CLM-3001");
        break_it(&mut claim);
        let err = write_837p(&envelope(), &[claim]).unwrap_err();
        match &err {
            X12Error::InvalidValue {
                claim,
                element: named,
                ..
            } => {
                assert_eq!(claim, "CLM-3001");
                assert_eq!(named, element);
            }
            other => panic!("expected InvalidValue for {element}, got {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("claim CLM-3001: {element} contains")),
            "{err}"
        );
    }
}

#[test]
fn delimiters_in_the_envelope_are_refused() {
    let mut e = envelope();
    e.submitter_name = "Willow*Creek".into();
    let err = write_837p(&e, &[self_subscriber_claim("CLM-2001")]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("claim envelope: 1000A NM103 submitter name contains"),
        "{err}"
    );
}

#[test]
fn empty_required_values_are_refused() {
    let mut claim = self_subscriber_claim("CLM-3002");
    claim.coverage.member_id = "  ".into();
    let err = write_837p(&envelope(), &[claim]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "claim CLM-3002: 2010BA NM109 member id is empty"
    );

    let mut claim = self_subscriber_claim("CLM-3003");
    claim.billing_provider.npi = None;
    let err = write_837p(&envelope(), &[claim]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "claim CLM-3003: 2010AA NM109 billing provider NPI is empty"
    );

    let mut claim = self_subscriber_claim("CLM-3004");
    claim.diagnoses.clear();
    let err = write_837p(&envelope(), &[claim]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "claim CLM-3004: 2300 HI01 principal diagnosis is missing"
    );
}

#[test]
fn pointers_to_missing_diagnoses_are_refused() {
    let mut claim = self_subscriber_claim("CLM-3005");
    claim.lines[0].diagnosis_pointers = vec![1, 5];
    let err = write_837p(&envelope(), &[claim]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "claim CLM-3005: 2400 line 1 SV107 diagnosis pointer 5 points to no diagnosis on the claim"
    );
}

#[test]
fn claims_of_different_billing_providers_are_not_mixed() {
    let mut other = self_subscriber_claim("CLM-3006");
    other.billing_provider.organization_name = "Another Practice".into();
    let err = write_837p(&envelope(), &[self_subscriber_claim("CLM-2001"), other]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("claim CLM-3006: 2010AA billing provider"),
        "{err}"
    );
}

#[test]
fn no_claims_no_file() {
    assert_eq!(write_837p(&envelope(), &[]), Err(X12Error::NoClaims));
}

#[test]
fn claim_numbers_longer_than_clm01_allows_are_refused() {
    let long = "C".repeat(39);
    let err = write_837p(&envelope(), &[self_subscriber_claim(&long)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("claim {long}: 2300 CLM01 claim number is longer than 38 characters")
    );
    assert!(write_837p(&envelope(), &[self_subscriber_claim(&"C".repeat(38))]).is_ok());
}
