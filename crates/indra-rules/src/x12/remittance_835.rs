//! The 835 health care claim payment/advice, ASC X12 005010X221A1: what the payer paid, per
//! claim and per service line, and why the rest was not paid (CAS adjustments).
//!
//! The parser reads what posting needs and skips the rest (MIA/MOA remarks, AMT, QTY, contact
//! loops): unknown segments are not an error, since payers add situational segments freely.
//! Amounts are kept exactly as sent; whether they add up is [`check_balance`]'s question, so a
//! file that does not balance can still be shown to the biller before it is refused for posting.

use std::fmt;

use time::Date;

use super::X12Error;
use super::segment_reader::{Segment, read_segments};
use crate::billing::claim_document::Cents;

/// One 835 transaction set (ST..SE): one payment (check or EFT) and the claims it pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remittance {
    /// TRN02: the check or EFT trace number. With the payer it identifies the payment, so posting
    /// uses it to refuse the same remittance twice.
    pub trace_number: String,
    /// The payer's id from N1*PR (N104) when present, else TRN03 (the payer's "1"+EIN).
    pub payer_identifier: String,
    /// Loop 1000A N102.
    pub payer_name: String,
    /// BPR02: the total actually paid.
    pub payment_amount: Cents,
    /// BPR04: CHK, ACH, BOP, FWT or NON (no payment, e.g. all denials).
    pub payment_method: String,
    /// BPR16: when the money is effective.
    pub payment_date: Option<Date>,
    /// Loop 1000B N104 when N103 is XX.
    pub payee_npi: Option<String>,
    pub claims: Vec<ClaimPayment>,
    /// PLB: money taken or given at the provider level, outside any claim.
    pub provider_adjustments: Vec<ProviderAdjustment>,
}

/// Loop 2100: the payer's decision on one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPayment {
    /// CLP01: the patient control number, our CLM01 claim number.
    pub claim_number: String,
    /// CLP02: 1, 2, 3 processed as primary, secondary, tertiary; 4 denied; 22 reversal; ...
    pub status_code: String,
    /// CLP03.
    pub charge: Cents,
    /// CLP04.
    pub paid: Cents,
    /// CLP05, zero when absent.
    pub patient_responsibility: Cents,
    /// CLP07: the payer's own claim number, needed to appeal or correct.
    pub payer_claim_control_number: Option<String>,
    /// Claim-level CAS.
    pub adjustments: Vec<Adjustment>,
    /// Loop 2110.
    pub services: Vec<ServicePayment>,
}

/// One CAS adjustment: group (CO contractual, PR patient responsibility, OA other, PI payer
/// initiated, CR correction), claim adjustment reason code and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub group_code: String,
    pub reason_code: String,
    pub amount: Cents,
    pub quantity: Option<String>,
}

/// Loop 2110: the payer's decision on one service line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePayment {
    /// SVC01-2.
    pub cpt_code: String,
    /// SVC01-3 to SVC01-6.
    pub modifiers: Vec<String>,
    /// SVC02.
    pub charge: Cents,
    /// SVC03.
    pub paid: Cents,
    /// SVC05, when sent (absent means 1).
    pub units: Option<u32>,
    /// DTM*472, or the start of DTM*150 when the payer sends a period.
    pub service_date: Option<Date>,
    /// REF*6R: the line control number we sent in the 837P, "{claim_number}-{line_number}".
    pub line_item_control_number: Option<String>,
    pub adjustments: Vec<Adjustment>,
}

/// One PLB adjustment: a reason (WO overpayment recovery, L6 interest, FB forwarding balance,
/// ...), its reference and the amount. Positive amounts reduce the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAdjustment {
    pub reason_code: String,
    pub reference: Option<String>,
    pub amount: Cents,
}

/// Reads every 835 transaction set (ST..SE) of an interchange.
pub fn parse_835(text: &str) -> Result<Vec<Remittance>, X12Error> {
    let segments = read_segments(text)?;
    let mut remittances = Vec::new();
    let mut current: Option<Open> = None;
    let mut last_position = 0;

    for segment in &segments {
        last_position = segment.position;
        match segment.id {
            "ST" => {
                if let Some(open) = &current {
                    return Err(segment.error(format!(
                        "transaction set {} has no SE before this ST",
                        open.control_number
                    )));
                }
                if segment.element(1) != "835" {
                    return Err(segment.error(format!(
                        "ST01 is {:?}, not 835: this is not a remittance",
                        segment.element(1)
                    )));
                }
                current = Some(Open::new(segment));
            }
            "SE" => {
                let Some(open) = current.take() else {
                    return Err(segment.error("SE without ST"));
                };
                remittances.push(open.close(segment)?);
            }
            "ISA" | "GS" | "GE" | "IEA" | "TA1" => {
                if let Some(open) = &current {
                    return Err(segment.error(format!(
                        "transaction set {} has no SE before this {}",
                        open.control_number, segment.id
                    )));
                }
            }
            _ => match current.as_mut() {
                Some(open) => open.read(segment)?,
                None => {
                    return Err(
                        segment.error("stands outside a transaction set (before ST or after SE)")
                    );
                }
            },
        }
    }
    if let Some(open) = current {
        return Err(X12Error::Malformed {
            position: last_position,
            segment: "SE".to_owned(),
            problem: format!("transaction set {} ends without an SE", open.control_number),
        });
    }
    if remittances.is_empty() {
        return Err(X12Error::NotAnInterchange(
            "it holds no 835 transaction set".to_owned(),
        ));
    }
    Ok(remittances)
}

/// A transaction set being read: where in the loops we are, and what has been read.
struct Open {
    control_number: String,
    start_position: usize,
    remittance: Remittance,
    saw_bpr: bool,
    saw_trn: bool,
    payer_id_from_n1: Option<String>,
    trn_payer_id: String,
    /// The loop the last segment belongs to, which decides where CAS, DTM and REF go.
    place: Place,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Header,
    Claim,
    Service,
    ProviderAdjustments,
}

impl Open {
    fn new(st: &Segment<'_>) -> Self {
        Open {
            control_number: st.element(2).to_owned(),
            start_position: st.position,
            remittance: Remittance {
                trace_number: String::new(),
                payer_identifier: String::new(),
                payer_name: String::new(),
                payment_amount: Cents::ZERO,
                payment_method: String::new(),
                payment_date: None,
                payee_npi: None,
                claims: Vec::new(),
                provider_adjustments: Vec::new(),
            },
            saw_bpr: false,
            saw_trn: false,
            payer_id_from_n1: None,
            trn_payer_id: String::new(),
            place: Place::Header,
        }
    }

    fn read(&mut self, s: &Segment<'_>) -> Result<(), X12Error> {
        let r = &mut self.remittance;
        match s.id {
            // Financial information: the payment itself.
            "BPR" => {
                r.payment_amount = amount(s, 2, "BPR02 payment amount")?;
                r.payment_method = s.element(4).to_owned();
                r.payment_date = optional_date(s, 16, "BPR16 payment date")?;
                self.saw_bpr = true;
            }
            // Reassociation trace number: ties the remittance to the money.
            "TRN" => {
                r.trace_number = required(s, 2, "TRN02 trace number")?.to_owned();
                self.trn_payer_id = s.element(3).to_owned();
                self.saw_trn = true;
            }
            // Loops 1000A (payer, PR) and 1000B (payee, PE).
            "N1" => match s.element(1) {
                "PR" => {
                    r.payer_name = s.element(2).to_owned();
                    if !s.element(4).is_empty() {
                        self.payer_id_from_n1 = Some(s.element(4).to_owned());
                    }
                }
                "PE" if s.element(3) == "XX" && !s.element(4).is_empty() => {
                    r.payee_npi = Some(s.element(4).to_owned());
                }
                _ => {}
            },
            // Loop 2100 claim payment information.
            "CLP" => {
                if self.place == Place::ProviderAdjustments {
                    return Err(s.error("a claim after the provider adjustments (PLB)"));
                }
                let claim_number = required(s, 1, "CLP01 claim number")?.to_owned();
                let status_code = required(s, 2, "CLP02 claim status")?.to_owned();
                let charge = amount(s, 3, "CLP03 charge")?;
                let paid = amount(s, 4, "CLP04 paid amount")?;
                let patient_responsibility = if s.element(5).is_empty() {
                    Cents::ZERO
                } else {
                    amount(s, 5, "CLP05 patient responsibility")?
                };
                let pccn = s.element(7);
                r.claims.push(ClaimPayment {
                    claim_number,
                    status_code,
                    charge,
                    paid,
                    patient_responsibility,
                    payer_claim_control_number: (!pccn.is_empty()).then(|| pccn.to_owned()),
                    adjustments: Vec::new(),
                    services: Vec::new(),
                });
                self.place = Place::Claim;
            }
            "CAS" => {
                let adjustments = adjustments(s)?;
                let claim = r
                    .claims
                    .last_mut()
                    .filter(|_| matches!(self.place, Place::Claim | Place::Service))
                    .ok_or_else(|| s.error("an adjustment (CAS) outside any claim"))?;
                match (self.place, claim.services.last_mut()) {
                    (Place::Service, Some(service)) => service.adjustments.extend(adjustments),
                    _ => claim.adjustments.extend(adjustments),
                }
            }
            // Loop 2110 service payment information.
            "SVC" => {
                let claim = r
                    .claims
                    .last_mut()
                    .filter(|_| matches!(self.place, Place::Claim | Place::Service))
                    .ok_or_else(|| s.error("a service line (SVC) outside any claim"))?;
                let procedure = s.components(1);
                let cpt_code = procedure.get(1).copied().unwrap_or("");
                if cpt_code.is_empty() {
                    return Err(s.error("SVC01-2 procedure code is empty"));
                }
                let units = match s.element(5) {
                    "" => None,
                    text => Some(units(text).ok_or_else(|| {
                        s.error(format!("SVC05 units {text:?} is not a whole number"))
                    })?),
                };
                claim.services.push(ServicePayment {
                    cpt_code: cpt_code.to_owned(),
                    modifiers: procedure
                        .iter()
                        .skip(2)
                        .take(4)
                        .filter(|m| !m.is_empty())
                        .map(|m| (*m).to_owned())
                        .collect(),
                    charge: amount(s, 2, "SVC02 charge")?,
                    paid: amount(s, 3, "SVC03 paid amount")?,
                    units,
                    service_date: None,
                    line_item_control_number: None,
                    adjustments: Vec::new(),
                });
                self.place = Place::Service;
            }
            "DTM" if self.place == Place::Service => {
                let service = r.claims.last_mut().and_then(|c| c.services.last_mut());
                if let Some(service) = service {
                    match s.element(1) {
                        "472" => service.service_date = optional_date(s, 2, "DTM02 service date")?,
                        "150" if service.service_date.is_none() => {
                            service.service_date =
                                optional_date(s, 2, "DTM02 service period start")?;
                        }
                        _ => {}
                    }
                }
            }
            "REF" if self.place == Place::Service && s.element(1) == "6R" => {
                if let Some(service) = r.claims.last_mut().and_then(|c| c.services.last_mut()) {
                    service.line_item_control_number = Some(s.element(2).to_owned());
                }
            }
            // Provider level adjustments, after all claims.
            "PLB" => {
                self.place = Place::ProviderAdjustments;
                // PLB03..PLB14: up to six pairs of (reason:reference, amount).
                let mut any = false;
                for pair in 0..6 {
                    let reason_element = 3 + pair * 2;
                    let identifier = s.components(reason_element);
                    let Some(reason) = identifier.first().filter(|r| !r.is_empty()) else {
                        continue;
                    };
                    let reference = identifier
                        .get(1)
                        .filter(|r| !r.is_empty())
                        .map(|r| (*r).to_owned());
                    let amount = amount(
                        s,
                        reason_element + 1,
                        &format!("PLB{:02} adjustment amount", reason_element + 1),
                    )?;
                    r.provider_adjustments.push(ProviderAdjustment {
                        reason_code: (*reason).to_owned(),
                        reference,
                        amount,
                    });
                    any = true;
                }
                if !any {
                    return Err(s.error("PLB03 adjustment reason is empty"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn close(mut self, se: &Segment<'_>) -> Result<Remittance, X12Error> {
        // SE01 counts ST through SE: a different count means segments were lost or added.
        let counted = se.position + 1 - self.start_position;
        let declared = se.element(1);
        if declared.parse::<usize>().ok() != Some(counted) {
            return Err(se.error(format!(
                "SE01 says the transaction set has {declared:?} segments but it has {counted}"
            )));
        }
        if se.element(2) != self.control_number {
            return Err(se.error(format!(
                "SE02 {:?} does not match ST02 {:?}",
                se.element(2),
                self.control_number
            )));
        }
        if !self.saw_bpr {
            return Err(se.error(format!(
                "transaction set {} has no BPR (payment)",
                self.control_number
            )));
        }
        if !self.saw_trn {
            return Err(se.error(format!(
                "transaction set {} has no TRN (trace number)",
                self.control_number
            )));
        }
        self.remittance.payer_identifier = self.payer_id_from_n1.unwrap_or(self.trn_payer_id);
        Ok(self.remittance)
    }
}

/// CAS: a group code then up to six (reason, amount, quantity) triples.
fn adjustments(s: &Segment<'_>) -> Result<Vec<Adjustment>, X12Error> {
    let group_code = required(s, 1, "CAS01 adjustment group")?;
    let mut found = Vec::new();
    for triple in 0..6 {
        let reason_element = 2 + triple * 3;
        let reason = s.element(reason_element);
        if reason.is_empty() {
            continue;
        }
        let amount = amount(
            s,
            reason_element + 1,
            &format!("CAS{:02} adjustment amount", reason_element + 1),
        )?;
        let quantity = s.element(reason_element + 2);
        found.push(Adjustment {
            group_code: group_code.to_owned(),
            reason_code: reason.to_owned(),
            amount,
            quantity: (!quantity.is_empty()).then(|| quantity.to_owned()),
        });
    }
    if found.is_empty() {
        return Err(s.error("CAS02 adjustment reason is empty"));
    }
    Ok(found)
}

fn required<'a>(s: &Segment<'a>, n: usize, name: &str) -> Result<&'a str, X12Error> {
    match s.element(n) {
        "" => Err(s.error(format!("{name} is empty"))),
        value => Ok(value),
    }
}

fn amount(s: &Segment<'_>, n: usize, name: &str) -> Result<Cents, X12Error> {
    let text = required(s, n, name)?;
    Cents::parse(text).ok_or_else(|| s.error(format!("{name} {text:?} is not an amount")))
}

/// Units as payers send them: "1", "2" or "2.0"; a fraction of a unit is not ours to post.
fn units(text: &str) -> Option<u32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if !fraction.bytes().all(|b| b == b'0') {
        return None;
    }
    whole.parse().ok()
}

/// A CCYYMMDD date element; empty means absent.
fn optional_date(s: &Segment<'_>, n: usize, name: &str) -> Result<Option<Date>, X12Error> {
    let text = s.element(n);
    if text.is_empty() {
        return Ok(None);
    }
    parse_d8(text)
        .map(Some)
        .ok_or_else(|| s.error(format!("{name} {text:?} is not a CCYYMMDD date")))
}

fn parse_d8(text: &str) -> Option<Date> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = text.get(0..4)?.parse().ok()?;
    let month: u8 = text.get(4..6)?.parse().ok()?;
    let day: u8 = text.get(6..8)?.parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// A way in which a remittance does not add up. Such a remittance must not be posted: whatever
/// is posted from it would leave a claim's balance wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceProblem {
    /// BPR02 is not the claims' CLP04 total minus the PLB amounts.
    Payment {
        payment: Cents,
        claims_paid: Cents,
        provider_adjustments: Cents,
    },
    /// CLP03 - CLP04 is not the sum of the claim's and its lines' CAS amounts.
    Claim {
        claim_number: String,
        charge: Cents,
        paid: Cents,
        adjustments: Cents,
    },
    /// SVC02 - SVC03 is not the sum of the line's CAS amounts.
    Service {
        claim_number: String,
        /// The line control number when the payer returned it, else the procedure code.
        line: String,
        charge: Cents,
        paid: Cents,
        adjustments: Cents,
    },
    /// CLP05 and the PR (patient responsibility) adjustments both say what the patient owes,
    /// and they disagree.
    PatientResponsibility {
        claim_number: String,
        reported: Cents,
        adjustments: Cents,
    },
}

impl fmt::Display for BalanceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BalanceProblem::Payment {
                payment,
                claims_paid,
                provider_adjustments,
            } => write!(
                f,
                "payment {payment} should equal claims paid {claims_paid} minus provider \
                 adjustments {provider_adjustments} = {}",
                Cents(claims_paid.0 - provider_adjustments.0)
            ),
            BalanceProblem::Claim {
                claim_number,
                charge,
                paid,
                adjustments,
            } => write!(
                f,
                "claim {claim_number}: charge {charge} - paid {paid} = {} but its adjustments total {adjustments}",
                Cents(charge.0 - paid.0)
            ),
            BalanceProblem::Service {
                claim_number,
                line,
                charge,
                paid,
                adjustments,
            } => write!(
                f,
                "claim {claim_number}, line {line}: charge {charge} - paid {paid} = {} but its \
                 adjustments total {adjustments}",
                Cents(charge.0 - paid.0)
            ),
            BalanceProblem::PatientResponsibility {
                claim_number,
                reported,
                adjustments,
            } => write!(
                f,
                "claim {claim_number}: patient responsibility {reported} but its patient \
                 responsibility (PR) adjustments total {adjustments}"
            ),
        }
    }
}

/// Checks that the remittance adds up, as the 835 guide's balancing section requires:
/// the payment equals what the claims paid less the provider adjustments, and for each claim and
/// each line, charge minus paid equals the adjustments.
pub fn check_balance(remittance: &Remittance) -> Result<(), Vec<BalanceProblem>> {
    let mut problems = Vec::new();

    let claims_paid: Cents = remittance.claims.iter().map(|c| c.paid).sum();
    let provider_adjustments: Cents = remittance
        .provider_adjustments
        .iter()
        .map(|p| p.amount)
        .sum();
    if remittance.payment_amount.0 != claims_paid.0 - provider_adjustments.0 {
        problems.push(BalanceProblem::Payment {
            payment: remittance.payment_amount,
            claims_paid,
            provider_adjustments,
        });
    }

    for claim in &remittance.claims {
        let line_adjustments: Cents = claim
            .services
            .iter()
            .flat_map(|s| &s.adjustments)
            .map(|a| a.amount)
            .sum();
        let claim_adjustments: Cents = claim.adjustments.iter().map(|a| a.amount).sum();
        let adjustments = claim_adjustments + line_adjustments;
        if claim.charge.0 - claim.paid.0 != adjustments.0 {
            problems.push(BalanceProblem::Claim {
                claim_number: claim.claim_number.clone(),
                charge: claim.charge,
                paid: claim.paid,
                adjustments,
            });
        }

        for service in &claim.services {
            let adjustments: Cents = service.adjustments.iter().map(|a| a.amount).sum();
            if service.charge.0 - service.paid.0 != adjustments.0 {
                problems.push(BalanceProblem::Service {
                    claim_number: claim.claim_number.clone(),
                    line: service
                        .line_item_control_number
                        .clone()
                        .unwrap_or_else(|| service.cpt_code.clone()),
                    charge: service.charge,
                    paid: service.paid,
                    adjustments,
                });
            }
        }

        // The guide says CLP05 *should* equal the PR adjustments; payers legitimately leave CLP05
        // empty or zero, and some put PR amounts only in CLP05. Only when both are reported and
        // they disagree is the remittance contradicting itself about what the patient owes.
        let all_adjustments = claim
            .adjustments
            .iter()
            .chain(claim.services.iter().flat_map(|s| &s.adjustments));
        let mut any_pr = false;
        let mut pr_total = Cents::ZERO;
        for adjustment in all_adjustments.filter(|a| a.group_code == "PR") {
            any_pr = true;
            pr_total = pr_total + adjustment.amount;
        }
        if any_pr
            && claim.patient_responsibility != Cents::ZERO
            && claim.patient_responsibility != pr_total
        {
            problems.push(BalanceProblem::PatientResponsibility {
                claim_number: claim.claim_number.clone(),
                reported: claim.patient_responsibility,
                adjustments: pr_total,
            });
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
