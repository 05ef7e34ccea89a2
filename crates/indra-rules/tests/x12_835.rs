//! The 835 parser and balance check, on hand-written remittances (fictitious payers, claims and
//! amounts). The main fixture is also checked by pyx12's x12valid, so the tests read a file a
//! real validator accepts as 005010X221A1.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

use indra_rules::billing::claim_document::Cents;
use indra_rules::x12::{
    Adjustment, BalanceProblem, ClaimPayment, ProviderAdjustment, Remittance, ServicePayment,
    X12Error, check_balance, parse_835,
};
use proptest::prelude::*;
use time::macros::date;

const PAID_DENIED_PLB: &str = include_str!("fixtures/x12/remittance_paid_denied_plb.835");

const ISA: &str = "ISA*00*          *00*          *ZZ*EXAMPLEPAYER   *ZZ*INDRA0001      *250315*1030*^*00501*000000101*0*T*:~";

/// Wraps the segments between ST and SE (exclusive) in an interchange with a right SE count.
fn interchange(body: &[&str]) -> String {
    let mut text =
        format!("{ISA}GS*HP*EXAMPLEPAYER*INDRA0001*20250315*1030*101*X*005010X221A1~ST*835*0001~");
    for segment in body {
        text.push_str(segment);
        text.push('~');
    }
    text.push_str(&format!(
        "SE*{}*0001~GE*1*101~IEA*1*000000101~",
        body.len() + 2
    ));
    text
}

fn co(reason: &str, amount: i64) -> Adjustment {
    Adjustment {
        group_code: "CO".into(),
        reason_code: reason.into(),
        amount: Cents(amount),
        quantity: None,
    }
}

fn pr(reason: &str, amount: i64) -> Adjustment {
    Adjustment {
        group_code: "PR".into(),
        reason_code: reason.into(),
        amount: Cents(amount),
        quantity: None,
    }
}

#[test]
fn the_fixture_is_a_valid_835_for_an_independent_validator() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/x12/remittance_paid_denied_plb.835");
    // x12valid leaves a 999 beside its input; validate a copy under the target directory.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("test-output/x12");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("remittance_paid_denied_plb.835");
    std::fs::copy(&path, &copy).unwrap();
    let output = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/x12valid"))
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn paid_denied_and_claim_level_adjustments_are_read() {
    let remittances = parse_835(PAID_DENIED_PLB).unwrap();
    assert_eq!(remittances.len(), 1);
    let r = &remittances[0];
    assert_eq!(r.trace_number, "EFT0000123");
    assert_eq!(
        r.payer_identifier, "1512345678",
        "TRN03, as N1*PR carries no id"
    );
    assert_eq!(r.payer_name, "EXAMPLE HEALTH PLAN");
    assert_eq!(r.payment_amount, Cents(23200));
    assert_eq!(r.payment_method, "ACH");
    assert_eq!(r.payment_date, Some(date!(2025 - 03 - 18)));
    assert_eq!(r.payee_npi.as_deref(), Some("1245319599"));
    assert_eq!(r.claims.len(), 3);

    // Paid, with the contractual write-off and the patient's coinsurance.
    assert_eq!(
        r.claims[0],
        ClaimPayment {
            claim_number: "CLM-2001".into(),
            status_code: "1".into(),
            charge: Cents(18000),
            paid: Cents(11200),
            patient_responsibility: Cents(2800),
            payer_claim_control_number: Some("PAYERCLM0001".into()),
            adjustments: vec![],
            services: vec![ServicePayment {
                cpt_code: "90837".into(),
                modifiers: vec![],
                charge: Cents(18000),
                paid: Cents(11200),
                units: Some(1),
                service_date: Some(date!(2025 - 02 - 20)),
                line_item_control_number: Some("CLM-2001-1".into()),
                adjustments: vec![co("45", 4000), pr("2", 2800)],
            }],
        }
    );

    // Denied: status 4, the whole charge adjusted CO-50 (not medically necessary).
    let denied = &r.claims[1];
    assert_eq!(denied.status_code, "4");
    assert_eq!(denied.paid, Cents::ZERO);
    assert_eq!(denied.services[0].modifiers, ["95"]);
    assert_eq!(denied.services[0].adjustments, [co("50", 18000)]);

    // Adjusted at the claim level, without service lines.
    let claim_level = &r.claims[2];
    assert_eq!(claim_level.adjustments, [co("45", 5500)]);
    assert!(claim_level.services.is_empty());

    assert_eq!(
        r.provider_adjustments,
        [ProviderAdjustment {
            reason_code: "WO".into(),
            reference: Some("OVERPAY0001".into()),
            amount: Cents(8000)
        }]
    );
    assert_eq!(check_balance(r), Ok(()));
}

#[test]
fn files_without_line_breaks_or_with_crlf_read_the_same() {
    let expected = parse_835(PAID_DENIED_PLB).unwrap();
    let one_line = PAID_DENIED_PLB.replace('\n', "");
    assert_eq!(parse_835(&one_line).unwrap(), expected);
    let crlf = PAID_DENIED_PLB.replace('\n', "\r\n");
    assert_eq!(parse_835(&crlf).unwrap(), expected);
}

#[test]
fn other_delimiters_are_read_from_the_isa_header() {
    let text = PAID_DENIED_PLB
        .replace('*', "|")
        .replace(':', ">")
        .replace('~', "\n");
    assert_eq!(
        parse_835(&text).unwrap(),
        parse_835(PAID_DENIED_PLB).unwrap()
    );
}

#[test]
fn an_unbalanced_payment_is_refused_with_its_reason() {
    // The payer says it sent 250.00, but the claims paid 312.00 less an 80.00 recovery.
    let text = PAID_DENIED_PLB.replace("BPR*I*232*", "BPR*I*250*");
    let r = &parse_835(&text).unwrap()[0];
    let problems = check_balance(r).unwrap_err();
    assert_eq!(
        problems,
        [BalanceProblem::Payment {
            payment: Cents(25000),
            claims_paid: Cents(31200),
            provider_adjustments: Cents(8000)
        }]
    );
    assert_eq!(
        problems[0].to_string(),
        "payment 250.00 should equal claims paid 312.00 minus provider adjustments 80.00 = 232.00"
    );
}

#[test]
fn a_claim_whose_adjustments_do_not_explain_the_difference_is_refused() {
    let text = interchange(&[
        "BPR*I*100*C*CHK************20250318",
        "TRN*1*CHK555*1512345678",
        "N1*PR*EXAMPLE HEALTH PLAN",
        "N1*PE*WILLOW CREEK*XX*1245319599",
        "LX*1",
        "CLP*C123*1*150*100*0*12*PCN9",
        "CAS*CO*45*40",
    ]);
    let problems = check_balance(&parse_835(&text).unwrap()[0]).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].to_string(),
        "claim C123: charge 150.00 - paid 100.00 = 50.00 but its adjustments total 40.00"
    );
}

#[test]
fn a_line_whose_adjustments_do_not_explain_the_difference_is_refused() {
    // The claim balances overall (the claim-level CAS makes up the line's shortfall), the line
    // does not: both rules are checked.
    let text = interchange(&[
        "BPR*I*100*C*CHK************20250318",
        "TRN*1*CHK556*1512345678",
        "N1*PR*EXAMPLE HEALTH PLAN",
        "LX*1",
        "CLP*C124*1*150*100**12*PCN10",
        "CAS*OA*23*10",
        "SVC*HC:90834*150*100**1",
        "REF*6R*C124-1",
        "CAS*CO*45*40",
    ]);
    let problems = check_balance(&parse_835(&text).unwrap()[0]).unwrap_err();
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "claim C124, line C124-1: charge 150.00 - paid 100.00 = 50.00 but its adjustments total 40.00"
        ]
    );
}

#[test]
fn patient_responsibility_is_a_problem_only_when_clearly_contradicted() {
    let with_clp05 = |clp05: &str| {
        interchange(&[
            "BPR*I*112*C*CHK************20250318",
            "TRN*1*CHK557*1512345678",
            "N1*PR*EXAMPLE HEALTH PLAN",
            "LX*1",
            &format!("CLP*C125*1*180*112*{clp05}*12*PCN11"),
            "SVC*HC:90837*180*112**1",
            "CAS*CO*45*40",
            "CAS*PR*2*28",
        ])
    };
    // Matching, and left out (payers may omit CLP05): fine.
    assert_eq!(
        check_balance(&parse_835(&with_clp05("28")).unwrap()[0]),
        Ok(())
    );
    assert_eq!(
        check_balance(&parse_835(&with_clp05("")).unwrap()[0]),
        Ok(())
    );
    // Reported and different from the PR adjustments: the payer contradicts itself.
    let problems = check_balance(&parse_835(&with_clp05("50")).unwrap()[0]).unwrap_err();
    assert_eq!(
        problems[0].to_string(),
        "claim C125: patient responsibility 50.00 but its patient responsibility (PR) adjustments total 28.00"
    );
}

#[test]
fn a_reversal_with_negative_amounts_balances() {
    let text = interchange(&[
        "BPR*H*0*C*NON************20250318",
        "TRN*1*REV1*1512345678",
        "N1*PR*EXAMPLE HEALTH PLAN",
        "LX*1",
        "CLP*CLM-2001*22*-180*-112*-28*12*PAYERCLM0001",
        "SVC*HC:90837*-180*-112**1",
        "CAS*CO*45*-40",
        "CAS*PR*2*-28",
        "CLP*CLM-2001*1*180*112*28*12*PAYERCLM0004",
        "SVC*HC:90837*180*112**1",
        "CAS*CO*45*40",
        "CAS*PR*2*28",
    ]);
    let r = &parse_835(&text).unwrap()[0];
    assert_eq!(r.claims[0].status_code, "22");
    assert_eq!(r.claims[0].paid, Cents(-11200));
    assert_eq!(check_balance(r), Ok(()));
}

#[test]
fn cas_with_several_reasons_and_quantities_is_read() {
    let text = interchange(&[
        "BPR*I*0*C*NON************20250318",
        "TRN*1*T1*1512345678",
        "LX*1",
        "CLP*C9*1*100*0*30*12*P9",
        "SVC*HC:90832*100*0*0850*2",
        "CAS*PR*1*20*1*2*10**3*0",
        "CAS*CO*45*70",
    ]);
    let r = &parse_835(&text).unwrap()[0];
    let service = &r.claims[0].services[0];
    assert_eq!(service.units, Some(2));
    let pr_adjustments: Vec<_> = service
        .adjustments
        .iter()
        .filter(|a| a.group_code == "PR")
        .collect();
    assert_eq!(pr_adjustments.len(), 3);
    assert_eq!(pr_adjustments[0].quantity.as_deref(), Some("1"));
    assert_eq!(pr_adjustments[2].amount, Cents::ZERO);
    assert_eq!(check_balance(r), Ok(()));
}

#[test]
fn several_transaction_sets_give_several_remittances() {
    let one = interchange(&[
        "BPR*I*0*C*NON",
        "TRN*1*A*1",
        "LX*1",
        "CLP*C1*4*10*0**12*P1",
        "CAS*CO*50*10",
    ]);
    let st_to_se = one
        .split("ST*835")
        .nth(1)
        .unwrap()
        .split("GE*")
        .next()
        .unwrap();
    let second = format!(
        "ST*835{}",
        st_to_se
            .replace("*0001~", "*0002~")
            .replace("TRN*1*A*", "TRN*1*B*")
    );
    let text = one.replace("GE*1*101~", &format!("{second}GE*2*101~"));
    let remittances = parse_835(&text).unwrap();
    let traces: Vec<_> = remittances
        .iter()
        .map(|r| r.trace_number.as_str())
        .collect();
    assert_eq!(traces, ["A", "B"]);
}

#[test]
fn malformed_files_are_refused_naming_the_segment() {
    let bad_amount = PAID_DENIED_PLB.replace("CLP*CLM-2003*4*180*", "CLP*CLM-2003*4*1B0*");
    assert_eq!(
        parse_835(&bad_amount).unwrap_err().to_string(),
        "segment 24 (CLP): CLP03 charge \"1B0\" is not an amount"
    );

    let no_se = PAID_DENIED_PLB.split("SE*").next().unwrap().to_owned();
    assert!(
        parse_835(&no_se)
            .unwrap_err()
            .to_string()
            .contains("ends without an SE")
    );

    let wrong_count = PAID_DENIED_PLB.replace("SE*33*0001", "SE*30*0001");
    assert_ne!(
        wrong_count, PAID_DENIED_PLB,
        "the fixture's SE count changed; update this test"
    );
    assert_eq!(
        parse_835(&wrong_count).unwrap_err().to_string(),
        "segment 35 (SE): SE01 says the transaction set has \"30\" segments but it has 33"
    );

    let stray_cas = interchange(&["BPR*I*0*C*NON", "TRN*1*A*1", "CAS*CO*45*10"]);
    assert_eq!(
        parse_835(&stray_cas).unwrap_err().to_string(),
        "segment 6 (CAS): an adjustment (CAS) outside any claim"
    );

    let not_835 = PAID_DENIED_PLB.replace("ST*835*", "ST*837*");
    assert!(
        matches!(parse_835(&not_835), Err(X12Error::Malformed { segment, .. }) if segment == "ST")
    );

    assert!(matches!(
        parse_835("CLP*C1*1*10*10"),
        Err(X12Error::NotAnInterchange(_))
    ));
    assert!(matches!(parse_835(""), Err(X12Error::NotAnInterchange(_))));
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Writes a remittance as an 835 the way a payer would, for the round trip below.
fn write_835(r: &Remittance) -> String {
    let mut body: Vec<String> = vec![
        format!(
            "BPR*I*{}*C*{}************20250318",
            r.payment_amount.to_x12(),
            r.payment_method
        ),
        format!("TRN*1*{}*{}", r.trace_number, r.payer_identifier),
        format!("N1*PR*{}", r.payer_name),
        "LX*1".into(),
    ];
    let cas = |body: &mut Vec<String>, adjustments: &[Adjustment]| {
        for a in adjustments {
            body.push(format!(
                "CAS*{}*{}*{}",
                a.group_code,
                a.reason_code,
                a.amount.to_x12()
            ));
        }
    };
    for c in &r.claims {
        body.push(format!(
            "CLP*{}*{}*{}*{}*{}*12*{}",
            c.claim_number,
            c.status_code,
            c.charge.to_x12(),
            c.paid.to_x12(),
            c.patient_responsibility.to_x12(),
            c.payer_claim_control_number.as_deref().unwrap_or("")
        ));
        cas(&mut body, &c.adjustments);
        for s in &c.services {
            body.push(format!(
                "SVC*HC:{}*{}*{}**{}",
                s.cpt_code,
                s.charge.to_x12(),
                s.paid.to_x12(),
                s.units.unwrap_or(1)
            ));
            cas(&mut body, &s.adjustments);
            if let Some(control) = &s.line_item_control_number {
                body.push(format!("REF*6R*{control}"));
            }
        }
    }
    for p in &r.provider_adjustments {
        body.push(format!(
            "PLB*1245319599*20251231*{}*{}",
            p.reason_code,
            p.amount.to_x12()
        ));
    }
    let refs: Vec<&str> = body.iter().map(String::as_str).collect();
    interchange(&refs)
}

prop_compose! {
    /// A service line that balances by construction: what was not paid is split into a
    /// contractual write-off and the patient's share.
    fn balanced_service(claim: String, line: u16)(
        charge in 1i64..500_000,
        paid_share in 0i64..=100,
        patient_share in 0i64..=100,
        code in prop::sample::select(vec!["90791", "90832", "90834", "90837", "90839", "90840"]),
    ) -> ServicePayment {
        let paid = charge * paid_share / 100;
        let patient = (charge - paid) * patient_share / 100;
        let contractual = charge - paid - patient;
        let mut adjustments = Vec::new();
        if contractual != 0 { adjustments.push(co("45", contractual)); }
        if patient != 0 { adjustments.push(pr("2", patient)); }
        ServicePayment {
            cpt_code: code.into(),
            modifiers: vec![],
            charge: Cents(charge),
            paid: Cents(paid),
            units: Some(1),
            service_date: None,
            line_item_control_number: Some(format!("{claim}-{line}")),
            adjustments,
        }
    }
}

fn balanced_claim(index: usize) -> impl Strategy<Value = ClaimPayment> {
    let claim_number = format!("CLM-{}", 1000 + index);
    let lines = (1u16..=3).prop_flat_map({
        let claim_number = claim_number.clone();
        move |count| {
            (1..=count)
                .map(|line| balanced_service(claim_number.clone(), line))
                .collect::<Vec<_>>()
        }
    });
    (lines, 0i64..5_000).prop_map(move |(services, claim_level)| {
        let line_charge: i64 = services.iter().map(|s| s.charge.0).sum();
        let paid: i64 = services.iter().map(|s| s.paid.0).sum();
        let patient: i64 = services
            .iter()
            .flat_map(|s| &s.adjustments)
            .filter(|a| a.group_code == "PR")
            .map(|a| a.amount.0)
            .sum();
        // A claim-level adjustment on top of the lines: the claim charge includes it.
        let adjustments = if claim_level == 0 {
            vec![]
        } else {
            vec![co("45", claim_level)]
        };
        ClaimPayment {
            claim_number: claim_number.clone(),
            status_code: if paid == 0 { "4".into() } else { "1".into() },
            charge: Cents(line_charge + claim_level),
            paid: Cents(paid),
            patient_responsibility: Cents(patient),
            payer_claim_control_number: Some(format!("P{claim_number}")),
            adjustments,
            services,
        }
    })
}

fn balanced_remittance() -> impl Strategy<Value = Remittance> {
    (1usize..=4)
        .prop_flat_map(|count| (0..count).map(balanced_claim).collect::<Vec<_>>())
        .prop_flat_map(|claims| {
            let paid: i64 = claims.iter().map(|c| c.paid.0).sum();
            (Just(claims), 0i64..=paid.min(10_000))
        })
        .prop_map(|(claims, recovery)| {
            let paid: i64 = claims.iter().map(|c| c.paid.0).sum();
            Remittance {
                trace_number: "EFT42".into(),
                payer_identifier: "1512345678".into(),
                payer_name: "EXAMPLE HEALTH PLAN".into(),
                payment_amount: Cents(paid - recovery),
                payment_method: "ACH".into(),
                payment_date: Some(date!(2025 - 03 - 18)),
                payee_npi: None,
                claims,
                provider_adjustments: if recovery == 0 {
                    vec![]
                } else {
                    vec![ProviderAdjustment {
                        reason_code: "WO".into(),
                        reference: None,
                        amount: Cents(recovery),
                    }]
                },
            }
        })
}

proptest! {
    #[test]
    fn parse_835_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = parse_835(&text);
    }

    #[test]
    fn parse_835_never_panics_on_damaged_remittances(cut in 0usize..2000, junk in "[*:~A-Z0-9\n.-]{0,20}") {
        let mut text: String = PAID_DENIED_PLB.chars().take(cut).collect();
        text.push_str(&junk);
        text.extend(PAID_DENIED_PLB.chars().skip(cut + junk.len()));
        let _ = parse_835(&text);
    }

    #[test]
    fn balanced_remittances_survive_the_round_trip_and_balance(remittance in balanced_remittance()) {
        let text = write_835(&remittance);
        let parsed = parse_835(&text).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        prop_assert_eq!(&parsed[0], &remittance);
        prop_assert_eq!(check_balance(&parsed[0]), Ok(()));
    }
}
