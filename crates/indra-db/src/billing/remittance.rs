//! 835 remittances in: matched to the claims, reviewed, posted once.
//!
//! A remittance is identified by its payer and trace number (TRN02): importing it again finds the
//! earlier posting and returns it unchanged. A remittance that does not balance is refused whole.

use std::collections::{HashMap, HashSet};

use indra_rules::billing::claim_document::Cents;
use indra_rules::x12::{ClaimPayment, Remittance, check_balance, parse_835};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, Row};
use time::Date;
use uuid::Uuid;

use super::BillingError;

/// What posting a file did (or, for a payment posted before, had done): one entry per payment
/// (ST..SE) in the file, in the file's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedRemittance {
    pub payments: Vec<PaymentPosting>,
}

/// What posting a file would do, for a review before posting. Nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemittancePreview {
    pub payments: Vec<PaymentPosting>,
}

/// One payment of a remittance and what it does to the claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPosting {
    /// The stored remittance; `None` in a preview of a payment not posted yet.
    pub remittance_id: Option<Uuid>,
    /// The same payer and trace number were imported before: nothing was (or would be) changed.
    pub already_posted: bool,
    pub trace_number: String,
    pub payer_identifier: String,
    pub payer_name: String,
    pub payment_amount: Cents,
    pub payment_method: String,
    pub payment_date: Option<Date>,
    /// Why the payment does not add up (empty when it balances). Only a preview can carry any:
    /// posting refuses an unbalanced file.
    pub balance_problems: Vec<String>,
    pub claims: Vec<ClaimPosting>,
}

impl PaymentPosting {
    /// The claims of the remittance that match no claim of the practice.
    pub fn unmatched(&self) -> impl Iterator<Item = &ClaimPosting> {
        self.claims.iter().filter(|c| c.claim_id.is_none())
    }
}

/// One CLP: the payer's decision on one claim, and what posting it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPosting {
    pub claim_number: String,
    /// The practice's claim with that number; `None` when there is none.
    pub claim_id: Option<Uuid>,
    /// CLP02: 1, 2, 3 processed; 4 denied; 22 reversal; ...
    pub status_code: String,
    pub charge: Cents,
    pub paid: Cents,
    pub patient_responsibility: Cents,
    pub status_before: Option<String>,
    pub status_after: Option<String>,
    /// What posting could not do, or what the biller should look at, in plain words.
    pub note: Option<String>,
}

/// Parses, checks and matches a remittance without writing anything.
pub async fn preview_remittance(
    conn: &mut PgConnection,
    org_id: Uuid,
    text: &str,
) -> Result<RemittancePreview, BillingError> {
    let remittances = parse_835(text)?;
    let mut payments = Vec::with_capacity(remittances.len());
    for remittance in &remittances {
        let balance_problems = balance_problems(remittance, remittances.len() > 1);
        if let Some(id) = posted_id(conn, org_id, remittance).await? {
            let mut stored = load_posting(conn, org_id, id).await?;
            stored.balance_problems = balance_problems;
            payments.push(stored);
            continue;
        }
        let claims = load_claims(conn, org_id, remittance).await?;
        let plans: Vec<ClaimPosting> = remittance
            .claims
            .iter()
            .map(|payment| plan(payment, claims.get(&payment.claim_number)).posting)
            .collect();
        payments.push(PaymentPosting {
            remittance_id: None,
            already_posted: false,
            trace_number: remittance.trace_number.clone(),
            payer_identifier: remittance.payer_identifier.clone(),
            payer_name: remittance.payer_name.clone(),
            payment_amount: remittance.payment_amount,
            payment_method: remittance.payment_method.clone(),
            payment_date: remittance.payment_date,
            balance_problems,
            claims: plans,
        });
    }
    Ok(RemittancePreview { payments })
}

/// Posts a remittance: every payment must balance (else nothing is posted and the reasons are
/// returned); a payment imported before is returned as it was posted and changes nothing; each
/// claim of a new payment is matched by its number, its lines by REF*6R (or CPT and date), and
/// moved along its arrows: processed with payment -> accepted -> paid, denied -> denied (or
/// rejected when the payer names missing information, CARC 16, which the practice corrects). All
/// or nothing, in a savepoint of the caller's transaction.
pub async fn post_remittance(
    conn: &mut PgConnection,
    org_id: Uuid,
    text: &str,
) -> Result<PostedRemittance, BillingError> {
    let remittances = parse_835(text)?;
    let problems: Vec<String> = remittances
        .iter()
        .flat_map(|r| balance_problems(r, remittances.len() > 1))
        .collect();
    if !problems.is_empty() {
        return Err(BillingError::Unbalanced(problems));
    }
    let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();

    let mut tx = conn.begin().await?;
    let mut payments = Vec::with_capacity(remittances.len());
    for remittance in &remittances {
        // The unique (payer, trace number) decides: a concurrent import of the same payment
        // waits here for the other to finish, then finds it.
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "insert into remittances (org_id, trace_number, payer_identifier, payer_name, insurance_payer_id,
                                      payment_amount, payment_method, payment_date, payee_npi, content,
                                      sha256, imported_by)
             values ($1, $2, $3, $4,
                     (select id from insurance_payers where org_id = $1 and payer_id = $3),
                     ($5::bigint::numeric / 100), $6, $7, $8, $9, $10, app.user_id())
             on conflict (org_id, payer_identifier, trace_number) do nothing
             returning id",
        )
        .bind(org_id)
        .bind(&remittance.trace_number)
        .bind(&remittance.payer_identifier)
        .bind(&remittance.payer_name)
        .bind(remittance.payment_amount.0)
        .bind(&remittance.payment_method)
        .bind(remittance.payment_date)
        .bind(remittance.payee_npi.as_deref())
        .bind(text)
        .bind(&digest[..])
        .fetch_optional(&mut *tx)
        .await?;
        let Some(remittance_id) = inserted else {
            let id = posted_id(&mut tx, org_id, remittance)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            payments.push(load_posting(&mut tx, org_id, id).await?);
            continue;
        };
        let claims = load_claims(&mut tx, org_id, remittance).await?;
        for (position, payment) in remittance.claims.iter().enumerate() {
            let claim = claims.get(&payment.claim_number);
            let planned = plan(payment, claim);
            write_claim_posting(
                &mut tx,
                org_id,
                remittance_id,
                position,
                payment,
                claim,
                &planned,
            )
            .await?;
        }
        let mut posting = load_posting(&mut tx, org_id, remittance_id).await?;
        posting.already_posted = false;
        payments.push(posting);
    }
    tx.commit().await?;
    Ok(PostedRemittance { payments })
}

fn balance_problems(remittance: &Remittance, name_the_payment: bool) -> Vec<String> {
    match check_balance(remittance) {
        Ok(()) => Vec::new(),
        Err(problems) => problems
            .iter()
            .map(|p| {
                if name_the_payment {
                    format!("payment {}: {p}", remittance.trace_number)
                } else {
                    p.to_string()
                }
            })
            .collect(),
    }
}

async fn posted_id(
    conn: &mut PgConnection,
    org_id: Uuid,
    remittance: &Remittance,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from remittances where org_id = $1 and payer_identifier = $2 and trace_number = $3",
    )
    .bind(org_id)
    .bind(&remittance.payer_identifier)
    .bind(&remittance.trace_number)
    .fetch_optional(conn)
    .await
}

/// A claim of the practice as posting needs it.
struct ClaimState {
    id: Uuid,
    status: String,
    lines: Vec<LineState>,
}

struct LineState {
    id: Uuid,
    line_number: i16,
    cpt_code: String,
    service_date: Date,
}

/// The claims the remittance names, by claim number, with their lines.
async fn load_claims(
    conn: &mut PgConnection,
    org_id: Uuid,
    remittance: &Remittance,
) -> Result<HashMap<String, ClaimState>, sqlx::Error> {
    let numbers: Vec<String> = remittance
        .claims
        .iter()
        .map(|c| c.claim_number.clone())
        .collect();
    let mut claims: HashMap<String, ClaimState> = HashMap::new();
    for row in sqlx::query(
        "select id, claim_number, status::text as status from billing_claims
          where org_id = $1 and claim_number = any ($2)",
    )
    .bind(org_id)
    .bind(&numbers)
    .fetch_all(&mut *conn)
    .await?
    {
        claims.insert(
            row.try_get("claim_number")?,
            ClaimState {
                id: row.try_get("id")?,
                status: row.try_get("status")?,
                lines: Vec::new(),
            },
        );
    }
    let ids: Vec<Uuid> = claims.values().map(|c| c.id).collect();
    for row in sqlx::query(
        "select l.id, l.line_number, l.cpt_code, l.service_date, c.claim_number
           from claim_line_items l join billing_claims c on c.org_id = l.org_id and c.id = l.claim_id
          where l.org_id = $1 and l.claim_id = any ($2)
          order by l.line_number",
    )
    .bind(org_id)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        let number: String = row.try_get("claim_number")?;
        if let Some(claim) = claims.get_mut(&number) {
            claim.lines.push(LineState {
                id: row.try_get("id")?,
                line_number: row.try_get("line_number")?,
                cpt_code: row.try_get("cpt_code")?,
                service_date: row.try_get("service_date")?,
            });
        }
    }
    Ok(claims)
}

/// What posting one CLP does.
struct Plan {
    posting: ClaimPosting,
    /// The status moves, in order, each one of the claim's arrows.
    moves: Vec<&'static str>,
    /// Whether the paid amounts are recorded on the claim and its lines.
    post_amounts: bool,
    /// The claim line each SVC matched, in the SVCs' order.
    line_matches: Vec<Option<Uuid>>,
}

/// CLP02 codes meaning the payer processed the claim (as primary, secondary, tertiary, or so and
/// forwarded it to the next payer).
const PROCESSED: [&str; 6] = ["1", "2", "3", "19", "20", "21"];

/// CARC 16: "claim/service lacks information": the practice corrects and resubmits.
const MISSING_INFORMATION: &str = "16";

fn plan(payment: &ClaimPayment, claim: Option<&ClaimState>) -> Plan {
    let mut posting = ClaimPosting {
        claim_number: payment.claim_number.clone(),
        claim_id: claim.map(|c| c.id),
        status_code: payment.status_code.clone(),
        charge: payment.charge,
        paid: payment.paid,
        patient_responsibility: payment.patient_responsibility,
        status_before: claim.map(|c| c.status.clone()),
        status_after: claim.map(|c| c.status.clone()),
        note: None,
    };
    let Some(claim) = claim else {
        posting.note = Some(format!(
            "no claim {} in this practice: nothing was posted for it",
            payment.claim_number
        ));
        return Plan {
            posting,
            moves: Vec::new(),
            post_amounts: false,
            line_matches: vec![None; payment.services.len()],
        };
    };
    let mut notes = Vec::new();
    let status = claim.status.as_str();
    let outside_adjudication = matches!(status, "draft" | "ready" | "voided");
    let code = payment.status_code.as_str();

    let moves: Vec<&'static str> = if outside_adjudication {
        notes.push(format!(
            "claim {} is {status}: the payer's answer is recorded but not posted",
            payment.claim_number
        ));
        Vec::new()
    } else if PROCESSED.contains(&code) {
        let paying = payment.paid.0 > 0;
        match (status, paying) {
            ("submitted", true) => vec!["accepted", "paid"],
            ("submitted", false) => vec!["accepted"],
            ("accepted" | "rejected" | "denied" | "appealed", true) => vec!["paid"],
            ("accepted", false) => Vec::new(),
            ("paid", _) => {
                notes.push("the claim was already paid: amounts recorded again".to_owned());
                Vec::new()
            }
            _ => {
                notes.push(format!(
                    "the claim is {status}: the payment is recorded, its status stays"
                ));
                Vec::new()
            }
        }
    } else if code == "4" {
        let missing_information = payment
            .adjustments
            .iter()
            .chain(payment.services.iter().flat_map(|s| &s.adjustments))
            .any(|a| a.reason_code == MISSING_INFORMATION);
        let target = if missing_information {
            "rejected"
        } else {
            "denied"
        };
        if status == "submitted" {
            if missing_information {
                notes.push(
                    "the payer needs missing information (CARC 16): correct the claim and send it again"
                        .to_owned(),
                );
            }
            vec![target]
        } else {
            notes.push(format!(
                "the claim is {status}: the denial is recorded, its status stays"
            ));
            Vec::new()
        }
    } else if code == "22" {
        notes.push(
            "a reversal of an earlier payment: recorded, the claim's status and amounts are unchanged; review the claim"
                .to_owned(),
        );
        Vec::new()
    } else {
        notes.push(format!(
            "claim status code {code}: recorded, the claim's status is unchanged; review the claim"
        ));
        Vec::new()
    };
    let post_amounts = !outside_adjudication && code != "22";

    let mut used = HashSet::new();
    let mut line_matches = Vec::with_capacity(payment.services.len());
    for service in &payment.services {
        let by_control_number = service.line_item_control_number.as_deref().and_then(|n| {
            let (number, line) = n.rsplit_once('-')?;
            let line: i16 = line.parse().ok()?;
            (number == payment.claim_number)
                .then(|| claim.lines.iter().find(|l| l.line_number == line))
                .flatten()
        });
        let matched = by_control_number
            .or_else(|| {
                claim.lines.iter().find(|l| {
                    !used.contains(&l.id)
                        && l.cpt_code == service.cpt_code
                        && service.service_date.is_none_or(|d| d == l.service_date)
                })
            })
            .map(|l| l.id);
        match matched {
            Some(id) => {
                used.insert(id);
            }
            None => notes.push(format!(
                "service {}{} matched no line of the claim",
                service.cpt_code,
                service
                    .service_date
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default()
            )),
        }
        line_matches.push(matched);
    }

    if let Some(last) = moves.last() {
        posting.status_after = Some((*last).to_owned());
    }
    posting.note = (!notes.is_empty()).then(|| notes.join("; "));
    Plan {
        posting,
        moves,
        post_amounts,
        line_matches,
    }
}

async fn write_claim_posting(
    conn: &mut PgConnection,
    org_id: Uuid,
    remittance_id: Uuid,
    position: usize,
    payment: &ClaimPayment,
    claim: Option<&ClaimState>,
    planned: &Plan,
) -> Result<(), sqlx::Error> {
    let claim_id = claim.map(|c| c.id);
    let remittance_claim_id: Uuid = sqlx::query_scalar(
        "insert into remittance_claims (org_id, remittance_id, position, claim_id, claim_number, status_code,
                                        charge, paid, patient_responsibility, payer_claim_control_number,
                                        claim_status_before, claim_status_after, note)
         values ($1, $2, $3, $4, $5, $6, ($7::bigint::numeric / 100), ($8::bigint::numeric / 100),
                 ($9::bigint::numeric / 100), $10, $11::claim_status, $12::claim_status, $13)
         returning id",
    )
    .bind(org_id)
    .bind(remittance_id)
    .bind(i32::try_from(position + 1).unwrap_or(i32::MAX))
    .bind(claim_id)
    .bind(&payment.claim_number)
    .bind(&payment.status_code)
    .bind(payment.charge.0)
    .bind(payment.paid.0)
    .bind(payment.patient_responsibility.0)
    .bind(payment.payer_claim_control_number.as_deref())
    .bind(planned.posting.status_before.as_deref())
    .bind(planned.posting.status_after.as_deref())
    .bind(planned.posting.note.as_deref())
    .fetch_one(&mut *conn)
    .await?;

    // Adjustments: claim level first, then each service's.
    let mut lines: Vec<Option<Uuid>> = Vec::new();
    let mut cpt_codes: Vec<Option<String>> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    let mut amounts: Vec<i64> = Vec::new();
    for adjustment in &payment.adjustments {
        lines.push(None);
        cpt_codes.push(None);
        groups.push(adjustment.group_code.clone());
        reasons.push(adjustment.reason_code.clone());
        amounts.push(adjustment.amount.0);
    }
    for (service, line) in payment.services.iter().zip(&planned.line_matches) {
        for adjustment in &service.adjustments {
            lines.push(*line);
            cpt_codes.push(Some(service.cpt_code.clone()));
            groups.push(adjustment.group_code.clone());
            reasons.push(adjustment.reason_code.clone());
            amounts.push(adjustment.amount.0);
        }
    }
    if !groups.is_empty() {
        sqlx::query(
            "insert into remittance_adjustments (org_id, remittance_claim_id, claim_id, claim_line_item_id,
                                                 service_cpt_code, group_code, reason_code, amount)
             select $1, $2, $3, l, c, g, r, (a::numeric / 100)
               from unnest($4::uuid[], $5::text[], $6::text[], $7::text[], $8::bigint[]) as t(l, c, g, r, a)",
        )
        .bind(org_id)
        .bind(remittance_claim_id)
        .bind(claim_id)
        .bind(&lines)
        .bind(&cpt_codes)
        .bind(&groups)
        .bind(&reasons)
        .bind(&amounts)
        .execute(&mut *conn)
        .await?;
    }

    let Some(claim) = claim else {
        return Ok(());
    };
    for status in &planned.moves {
        sqlx::query(
            "update billing_claims set status = $3::claim_status, adjudicated_at = coalesce(adjudicated_at, now())
              where org_id = $1 and id = $2",
        )
        .bind(org_id)
        .bind(claim.id)
        .bind(status)
        .execute(&mut *conn)
        .await?;
    }
    if !planned.post_amounts {
        return Ok(());
    }
    sqlx::query(
        "update billing_claims set paid_amount = ($3::bigint::numeric / 100),
                patient_responsibility = ($4::bigint::numeric / 100)
          where org_id = $1 and id = $2",
    )
    .bind(org_id)
    .bind(claim.id)
    .bind(payment.paid.0.max(0))
    .bind(payment.patient_responsibility.0.max(0))
    .execute(&mut *conn)
    .await?;
    for (service, line) in payment.services.iter().zip(&planned.line_matches) {
        let Some(line) = line else {
            continue;
        };
        let patient: i64 = service
            .adjustments
            .iter()
            .filter(|a| a.group_code == "PR")
            .map(|a| a.amount.0)
            .sum();
        let other: i64 = service
            .adjustments
            .iter()
            .filter(|a| a.group_code != "PR")
            .map(|a| a.amount.0)
            .sum();
        sqlx::query(
            "update claim_line_items
                set paid_amount = ($3::bigint::numeric / 100),
                    patient_responsibility = ($4::bigint::numeric / 100),
                    adjustment_amount = ($5::bigint::numeric / 100)
              where org_id = $1 and id = $2",
        )
        .bind(org_id)
        .bind(line)
        .bind(service.paid.0.max(0))
        .bind(patient.max(0))
        .bind(other)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A stored payment and what its posting did, as recorded.
async fn load_posting(
    conn: &mut PgConnection,
    org_id: Uuid,
    remittance_id: Uuid,
) -> Result<PaymentPosting, sqlx::Error> {
    let row = sqlx::query(
        "select trace_number, payer_identifier, payer_name, (payment_amount * 100)::bigint as payment_cents,
                payment_method, payment_date
           from remittances where org_id = $1 and id = $2",
    )
    .bind(org_id)
    .bind(remittance_id)
    .fetch_one(&mut *conn)
    .await?;
    let claims = sqlx::query(
        "select claim_number, claim_id, status_code, (charge * 100)::bigint as charge_cents,
                (paid * 100)::bigint as paid_cents,
                (patient_responsibility * 100)::bigint as patient_cents,
                claim_status_before::text as before, claim_status_after::text as after, note
           from remittance_claims where org_id = $1 and remittance_id = $2
          order by position",
    )
    .bind(org_id)
    .bind(remittance_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(ClaimPosting {
            claim_number: r.try_get("claim_number")?,
            claim_id: r.try_get("claim_id")?,
            status_code: r.try_get("status_code")?,
            charge: Cents(r.try_get("charge_cents")?),
            paid: Cents(r.try_get("paid_cents")?),
            patient_responsibility: Cents(r.try_get("patient_cents")?),
            status_before: r.try_get("before")?,
            status_after: r.try_get("after")?,
            note: r.try_get("note")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(PaymentPosting {
        remittance_id: Some(remittance_id),
        already_posted: true,
        trace_number: row.try_get("trace_number")?,
        payer_identifier: row.try_get("payer_identifier")?,
        payer_name: row.try_get("payer_name")?,
        payment_amount: Cents(row.try_get("payment_cents")?),
        payment_method: row.try_get("payment_method")?,
        payment_date: row.try_get("payment_date")?,
        balance_problems: Vec::new(),
        claims,
    })
}
