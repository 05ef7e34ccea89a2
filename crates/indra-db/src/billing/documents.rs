//! Filling [`ClaimDocument`]s: one query for the claims with everything they bill for and to
//! whom, one for their diagnoses, one for their lines with the documentation behind each.

use std::collections::HashMap;

use indra_rules::billing::claim_document::{
    Address, Authorization, BillingProvider, Cents, ClaimCoverage, ClaimDiagnosis, ClaimDocument,
    ClaimLine, ClaimPerson, ClaimSex, EncounterDocumentation, RenderingProvider,
    SubscriberRelationship,
};
use sqlx::{PgConnection, Row};
use time::Date;
use uuid::Uuid;

/// The claim documents of `claim_ids`, in the order given. Three round trips whatever the number
/// of claims. A claim the caller may not see (or that does not exist) is `RowNotFound`.
pub async fn load_claim_documents(
    conn: &mut PgConnection,
    claim_ids: &[Uuid],
) -> Result<Vec<ClaimDocument>, sqlx::Error> {
    if claim_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut documents: HashMap<Uuid, ClaimDocument> = HashMap::with_capacity(claim_ids.len());

    let rows = sqlx::query(
        "select c.id, c.claim_number, c.place_of_service, c.prior_authorization_number,
                c.authorization_override_reason,
                p.mrn, p.first_name, p.last_name, p.date_of_birth, p.sex_at_birth,
                p.address_line1 as p_line1, p.address_line2 as p_line2, p.city as p_city,
                p.state as p_state, p.postal_code as p_postal,
                o.name as org_name, o.billing_npi, o.tax_id, o.address_line1 as o_line1,
                o.address_line2 as o_line2, o.city as o_city, o.state as o_state,
                o.postal_code as o_postal, o.phone as o_phone,
                rp.first_name as rp_first, rp.last_name as rp_last, rp.credentials, rp.npi as rp_npi,
                rp.taxonomy_code,
                py.name as payer_name, py.payer_id, py.address_line1 as py_line1, py.city as py_city,
                py.state as py_state, py.postal_code as py_postal, py.requires_prior_authorization,
                pi.priority::text as priority, pi.member_id, pi.group_number,
                pi.subscriber_relationship::text as relationship, pi.subscriber_first_name,
                pi.subscriber_last_name, pi.subscriber_date_of_birth, pi.effective_from,
                pi.effective_to, pi.authorization_number, pi.authorization_start,
                pi.authorization_end, pi.authorized_cpt_codes, pi.authorized_sessions,
                pi.sessions_used
           from billing_claims c
           join patients p on p.org_id = c.org_id and p.id = c.patient_id
           join organizations o on o.id = c.org_id
           join providers rp on rp.org_id = c.org_id and rp.id = c.rendering_provider_id
           join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
           join insurance_payers py on py.org_id = pi.org_id and py.id = pi.insurance_payer_id
          where c.id = any ($1)",
    )
    .bind(claim_ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let id: Uuid = row.try_get("id")?;
        documents.insert(id, claim_from_row(&row)?);
    }

    let rows = sqlx::query(
        "select d.claim_id, d.sequence, d.icd10_code, coalesce(i.is_billable, false) as is_billable,
                app.is_patient_diagnosis(d.org_id, c.patient_id, d.icd10_code) as on_record
           from claim_diagnoses d
           join billing_claims c on c.org_id = d.org_id and c.id = d.claim_id
           left join icd10_codes i on i.code = d.icd10_code
          where d.claim_id = any ($1)
          order by d.claim_id, d.sequence",
    )
    .bind(claim_ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let claim_id: Uuid = row.try_get("claim_id")?;
        let sequence: i16 = row.try_get("sequence")?;
        if let Some(document) = documents.get_mut(&claim_id) {
            document.diagnoses.push(ClaimDiagnosis {
                sequence: u8::try_from(sequence).unwrap_or(0),
                icd10_code: row.try_get("icd10_code")?,
                is_billable: row.try_get("is_billable")?,
                on_patient_record: row.try_get("on_record")?,
            });
        }
    }

    let rows = sqlx::query(
        "select l.claim_id, l.line_number, l.cpt_code, l.modifiers, l.units,
                (l.charge * 100)::bigint as charge_cents, l.service_date,
                coalesce(l.place_of_service, c.place_of_service) as place_of_service,
                l.diagnosis_pointers, cp.code is not null as cpt_known,
                coalesce(cp.is_add_on, false) as is_add_on,
                coalesce(cp.add_on_to, '{}') as add_on_to,
                coalesce(doc.completed, false) as completed,
                coalesce(doc.note_signed, false) as note_signed,
                coalesce(doc.needs_cosignature, false) as needs_cosignature,
                coalesce(doc.cosigned, false) as cosigned
           from claim_line_items l
           join billing_claims c on c.org_id = l.org_id and c.id = l.claim_id
           left join cpt_codes cp on cp.code = l.cpt_code
           left join lateral (
               select d.* from app.claim_line_documentation(l.org_id, array[l.claim_id]) d
                where d.line_id = l.id) doc on true
          where l.claim_id = any ($1)
          order by l.claim_id, l.line_number",
    )
    .bind(claim_ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let claim_id: Uuid = row.try_get("claim_id")?;
        let Some(document) = documents.get_mut(&claim_id) else {
            continue;
        };
        let line_number: i16 = row.try_get("line_number")?;
        let units: i16 = row.try_get("units")?;
        let pointers: Vec<i32> = row.try_get("diagnosis_pointers")?;
        document.lines.push(ClaimLine {
            line_number: u16::try_from(line_number).unwrap_or(0),
            cpt_code: row.try_get("cpt_code")?,
            is_add_on: row.try_get("is_add_on")?,
            add_on_to: row.try_get("add_on_to")?,
            cpt_known: row.try_get("cpt_known")?,
            modifiers: row.try_get("modifiers")?,
            units: u32::try_from(units).unwrap_or(0),
            charge: Cents(row.try_get("charge_cents")?),
            service_date: row.try_get("service_date")?,
            place_of_service: row.try_get("place_of_service")?,
            diagnosis_pointers: pointers
                .into_iter()
                .map(|p| u8::try_from(p).unwrap_or(0))
                .collect(),
            documentation: EncounterDocumentation {
                completed: row.try_get("completed")?,
                note_signed: row.try_get("note_signed")?,
                needs_cosignature: row.try_get("needs_cosignature")?,
                cosigned: row.try_get("cosigned")?,
            },
        });
    }

    claim_ids
        .iter()
        .map(|id| documents.get(id).cloned().ok_or(sqlx::Error::RowNotFound))
        .collect()
}

fn claim_from_row(row: &sqlx::postgres::PgRow) -> Result<ClaimDocument, sqlx::Error> {
    let patient_address = Address {
        line1: row.try_get("p_line1")?,
        line2: row.try_get("p_line2")?,
        city: row.try_get("p_city")?,
        state: row.try_get("p_state")?,
        postal_code: row.try_get("p_postal")?,
    };
    let sex: Option<String> = row.try_get("sex_at_birth")?;
    let patient = ClaimPerson {
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        date_of_birth: row.try_get("date_of_birth")?,
        sex: ClaimSex::from_db(sex.as_deref()),
        address: patient_address.clone(),
    };

    let relationship: String = row.try_get("relationship")?;
    let relationship = SubscriberRelationship::from_db(&relationship).unwrap_or_default();
    let subscriber_first: Option<String> = row.try_get("subscriber_first_name")?;
    let subscriber_last: Option<String> = row.try_get("subscriber_last_name")?;
    let subscriber_dob: Option<Date> = row.try_get("subscriber_date_of_birth")?;
    // The subscriber is someone else only when the coverage says so; their address is taken to
    // be the patient's (the record keeps none of its own).
    let subscriber = match (
        relationship,
        subscriber_first,
        subscriber_last,
        subscriber_dob,
    ) {
        (SubscriberRelationship::Myself, ..) => None,
        (_, Some(first_name), Some(last_name), Some(date_of_birth)) => Some(ClaimPerson {
            first_name,
            last_name,
            date_of_birth,
            sex: ClaimSex::Unknown,
            address: patient_address,
        }),
        _ => None,
    };

    let authorization_number: Option<String> = row.try_get("authorization_number")?;
    let authorization_start: Option<Date> = row.try_get("authorization_start")?;
    let authorization_end: Option<Date> = row.try_get("authorization_end")?;
    let authorized_cpt_codes: Vec<String> = row.try_get("authorized_cpt_codes")?;
    let authorized_sessions: Option<i32> = row.try_get("authorized_sessions")?;
    let sessions_used: i32 = row.try_get("sessions_used")?;
    let has_authorization = authorization_number.is_some()
        || authorization_start.is_some()
        || authorization_end.is_some()
        || !authorized_cpt_codes.is_empty()
        || authorized_sessions.is_some();
    let authorization = has_authorization.then(|| Authorization {
        number: authorization_number,
        start: authorization_start,
        end: authorization_end,
        cpt_codes: authorized_cpt_codes,
        authorized_sessions: authorized_sessions.and_then(|n| u32::try_from(n).ok()),
        sessions_used: u32::try_from(sessions_used).unwrap_or(0),
    });

    let priority: String = row.try_get("priority")?;
    Ok(ClaimDocument {
        claim_number: row.try_get("claim_number")?,
        patient_account_number: row.try_get("mrn")?,
        billing_provider: BillingProvider {
            organization_name: row.try_get("org_name")?,
            npi: row.try_get("billing_npi")?,
            tax_id: row.try_get("tax_id")?,
            address: Address {
                line1: row.try_get("o_line1")?,
                line2: row.try_get("o_line2")?,
                city: row.try_get("o_city")?,
                state: row.try_get("o_state")?,
                postal_code: row.try_get("o_postal")?,
            },
            phone: row.try_get("o_phone")?,
        },
        rendering_provider: RenderingProvider {
            first_name: row.try_get("rp_first")?,
            last_name: row.try_get("rp_last")?,
            credentials: row.try_get("credentials")?,
            npi: row.try_get("rp_npi")?,
            taxonomy_code: row.try_get("taxonomy_code")?,
        },
        patient,
        coverage: ClaimCoverage {
            payer_name: row.try_get("payer_name")?,
            payer_id: row.try_get("payer_id")?,
            payer_address: Address {
                line1: row.try_get("py_line1")?,
                line2: None,
                city: row.try_get("py_city")?,
                state: row.try_get("py_state")?,
                postal_code: row.try_get("py_postal")?,
            },
            payer_requires_prior_authorization: row.try_get("requires_prior_authorization")?,
            priority_rank: match priority.as_str() {
                "secondary" => 2,
                "tertiary" => 3,
                _ => 1,
            },
            member_id: row.try_get("member_id")?,
            group_number: row.try_get("group_number")?,
            relationship,
            subscriber,
            effective_from: row.try_get("effective_from")?,
            effective_to: row.try_get("effective_to")?,
            authorization,
        },
        place_of_service: row.try_get("place_of_service")?,
        prior_authorization_number: row.try_get("prior_authorization_number")?,
        authorization_override_reason: row.try_get("authorization_override_reason")?,
        diagnoses: Vec::new(),
        lines: Vec::new(),
    })
}
