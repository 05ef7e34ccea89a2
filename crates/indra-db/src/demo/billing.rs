//! The demo's billing: the practice's fee schedule, its claims sent as 837P files (one per week,
//! which counts their sessions against the authorizations) and the payer's 835 remittance for
//! the oldest week, posted as a biller would post it. All through `indra_db::billing`, so the
//! demo holds exactly what the workflow produces.

use anyhow::Context;
use sqlx::{Postgres, Transaction};
use time::Date;
use uuid::Uuid;

use super::OrgPlan;
use crate::billing::{ExportSettings, export_837p, post_remittance};

/// What the practice charges (the demo's claims use the same amounts).
pub(super) const FEE_SCHEDULE: &[(&str, &str)] = &[
    ("90791", "200.00"),
    ("90792", "250.00"),
    ("90832", "95.00"),
    ("90833", "85.00"),
    ("90834", "135.00"),
    ("90836", "115.00"),
    ("90837", "175.00"),
    ("90838", "150.00"),
    ("90785", "25.00"),
    ("90839", "220.00"),
    ("90840", "105.00"),
    ("90846", "130.00"),
    ("90847", "140.00"),
    ("90853", "60.00"),
    ("99202", "110.00"),
    ("99203", "160.00"),
    ("99204", "230.00"),
    ("99205", "290.00"),
    ("99212", "75.00"),
    ("99213", "120.00"),
    ("99214", "170.00"),
    ("99215", "230.00"),
];

pub(super) async fn load_fee_schedule(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
) -> anyhow::Result<()> {
    let (codes, charges): (Vec<&str>, Vec<&str>) = FEE_SCHEDULE.iter().copied().unzip();
    let ids: Vec<Uuid> = codes
        .iter()
        .map(|code| plan.id(&format!("fee/{code}")))
        .collect();
    sqlx::query(
        "insert into fee_schedule_entries (id, org_id, cpt_code, charge)
         select i, $1, c, f::numeric from unnest($2::uuid[], $3::text[], $4::text[]) as t(i, c, f)",
    )
    .bind(plan.org_id)
    .bind(&ids)
    .bind(&codes)
    .bind(&charges)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A demo claim, ready or still a draft, and the way it is meant to go.
pub(super) struct DemoClaim {
    pub claim_id: Uuid,
    pub claim_number: String,
    pub week: i64,
    pub path: &'static [&'static str],
    pub cpt_code: String,
    /// "135.00"
    pub charge: String,
    pub service_date: Date,
    pub video: bool,
}

/// Sends weeks -4, -3 and -2 (one 837P each), has the payer accept week -3, and posts the
/// payer's remittance for week -4: paid, denied, and denied then appealed.
pub(super) async fn send_and_settle(
    tx: &mut Transaction<'_, Postgres>,
    plan: &OrgPlan,
    claims: &[DemoClaim],
) -> anyhow::Result<()> {
    let org = plan.org_id;
    let settings = ExportSettings {
        sender_id: format!("INDRADEMO{:03}", plan.position % 1000),
        receiver_id: "CLEARDEMO".to_owned(),
        submitter_name: plan.name.clone(),
        submitter_contact_name: "Riley Billing-Specialist".to_owned(),
        submitter_contact_phone: "5550100".to_owned(),
        receiver_name: "Demo Clearinghouse".to_owned(),
        production: false,
    };
    for week in [-4, -3, -2] {
        let ids: Vec<Uuid> = claims
            .iter()
            .filter(|c| c.week == week && c.path.contains(&"submitted"))
            .map(|c| c.claim_id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        export_837p(tx, org, Some(&ids), &settings)
            .await
            .with_context(|| format!("exporting the demo claims of week {week}"))?;
    }
    for claim in claims.iter().filter(|c| c.path.last() == Some(&"accepted")) {
        sqlx::query("update billing_claims set status = 'accepted' where org_id = $1 and id = $2")
            .bind(org)
            .bind(claim.claim_id)
            .execute(&mut **tx)
            .await?;
    }

    let settled: Vec<&DemoClaim> = claims
        .iter()
        .filter(|c| c.path.contains(&"paid") || c.path.contains(&"denied"))
        .collect();
    if !settled.is_empty() {
        let (payer_name, payer_id, payee_npi): (String, String, Option<String>) = sqlx::query_as(
            "select py.name, py.payer_id, o.billing_npi
               from billing_claims c
               join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
               join insurance_payers py on py.org_id = pi.org_id and py.id = pi.insurance_payer_id
               join organizations o on o.id = c.org_id
              where c.org_id = $1 and c.id = $2",
        )
        .bind(org)
        .bind(settled[0].claim_id)
        .fetch_one(&mut **tx)
        .await?;
        // One payer pays for all of them in the demo's remittance; the other payer's claims are
        // in it too, as clearinghouses bundle them for a small practice.
        let paid_on = settled
            .iter()
            .map(|c| c.service_date)
            .max()
            .unwrap_or(Date::MIN)
            + time::Duration::days(21);
        let text = remittance_835(
            &Payer {
                name: &payer_name,
                id: &payer_id,
            },
            &plan.name,
            payee_npi.as_deref(),
            &format!("EFT{:03}{:06}", plan.position % 1000, 4001),
            paid_on,
            &settled,
        );
        post_remittance(tx, org, &text)
            .await
            .context("posting the demo remittance")?;
    }
    for claim in claims.iter().filter(|c| c.path.last() == Some(&"appealed")) {
        sqlx::query("update billing_claims set status = 'appealed' where org_id = $1 and id = $2")
            .bind(org)
            .bind(claim.claim_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

struct Payer<'a> {
    name: &'a str,
    id: &'a str,
}

fn cents(amount: &str) -> i64 {
    indra_rules::billing::claim_document::Cents::parse(amount)
        .map(|c| c.0)
        .unwrap_or(0)
}

fn x12_amount(cents: i64) -> String {
    indra_rules::billing::claim_document::Cents(cents).to_x12()
}

/// The payer's 835: paid claims at 80% with the rest the patient's deductible (PR 1), denied
/// ones as not medically necessary (CO 50).
fn remittance_835(
    payer: &Payer<'_>,
    payee_name: &str,
    payee_npi: Option<&str>,
    trace_number: &str,
    paid_on: Date,
    claims: &[&DemoClaim],
) -> String {
    let date = format!(
        "{:04}{:02}{:02}",
        paid_on.year(),
        u8::from(paid_on.month()),
        paid_on.day()
    );
    let mut body: Vec<String> = Vec::new();
    let mut total = 0i64;
    body.push("ST*835*0001".to_owned());
    let bpr_index = body.len();
    body.push(String::new());
    body.push(format!("TRN*1*{trace_number}*1{}", payer.id));
    body.push(format!("DTM*405*{date}"));
    body.push(format!("N1*PR*{}*XV*{}", payer.name, payer.id));
    body.push("N3*100 Insurance Way".to_owned());
    body.push("N4*Hartford*CT*06103".to_owned());
    body.push("PER*BL*Provider Services*TE*5550199".to_owned());
    match payee_npi {
        Some(npi) => body.push(format!("N1*PE*{payee_name}*XX*{npi}")),
        None => body.push(format!("N1*PE*{payee_name}")),
    }
    body.push("LX*1".to_owned());
    for (n, claim) in claims.iter().enumerate() {
        let charge = cents(&claim.charge);
        let denied = claim.path.contains(&"denied");
        let paid = if denied { 0 } else { charge * 8 / 10 };
        let patient = if denied { 0 } else { charge - paid };
        total += paid;
        let service_date = format!(
            "{:04}{:02}{:02}",
            claim.service_date.year(),
            u8::from(claim.service_date.month()),
            claim.service_date.day()
        );
        body.push(format!(
            "CLP*{}*{}*{}*{}*{}*12*PCN{:08}",
            claim.claim_number,
            if denied { "4" } else { "1" },
            x12_amount(charge),
            x12_amount(paid),
            x12_amount(patient),
            n + 1
        ));
        // The payer names the patient; the demo's remittance is read by number only.
        body.push(format!("NM1*QC*1*Patient*Demo****MI*DEMO{:06}", n + 1));
        let procedure = if claim.video {
            format!("HC:{}:95", claim.cpt_code)
        } else {
            format!("HC:{}", claim.cpt_code)
        };
        body.push(format!(
            "SVC*{procedure}*{}*{}**1",
            x12_amount(charge),
            x12_amount(paid)
        ));
        body.push(format!("DTM*472*{service_date}"));
        if denied {
            body.push(format!("CAS*CO*50*{}", x12_amount(charge)));
        } else {
            body.push(format!("CAS*PR*1*{}", x12_amount(patient)));
        }
        body.push(format!("REF*6R*{}-1", claim.claim_number));
    }
    body[bpr_index] = format!(
        "BPR*I*{}*C*{}*CCP*01*011000015*DA*123456789*1512345678**01*021000021*DA*987654321*{date}",
        x12_amount(total),
        if total > 0 { "ACH" } else { "NON" }
    );
    body.push(format!("SE*{}*0001", body.len() + 1));

    let sender = format!("{:<15}", payer.id);
    let receiver = format!("{:<15}", "INDRADEMO");
    let short_date = &date[2..];
    let mut segments = vec![
        format!(
            "ISA*00*          *00*          *ZZ*{sender}*ZZ*{receiver}*{short_date}*1200*^*00501*000004001*0*T*:"
        ),
        format!(
            "GS*HP*{}*INDRADEMO*{date}*1200*4001*X*005010X221A1",
            payer.id
        ),
    ];
    segments.extend(body);
    segments.push("GE*1*4001".to_owned());
    segments.push("IEA*1*000004001".to_owned());
    let mut text = segments.join("~\n");
    text.push_str("~\n");
    text
}
