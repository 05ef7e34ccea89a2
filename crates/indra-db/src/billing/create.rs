//! Draft claims from completed sessions: the lines the code suggestion proposes, the charges of
//! the fee schedule, the patient's diagnoses and primary coverage.

use std::collections::{HashMap, HashSet};

use indra_rules::billing::code_suggestion::{
    EncounterType, Modality, PatientStatus, SessionFacts, is_prescriber, suggest_codes,
};
use sqlx::{Connection, PgConnection, Row};
use time::Date;
use uuid::Uuid;

use super::BillingError;

/// What happened to one encounter asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedClaim {
    pub encounter_id: Uuid,
    pub outcome: ClaimCreation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimCreation {
    /// A draft claim was created.
    Created {
        claim_id: Uuid,
        claim_number: String,
        /// Why each line was suggested, and what was considered and not billed.
        explanations: Vec<String>,
    },
    /// No claim was created, and why, in the biller's words.
    Skipped { reason: String },
}

/// The box 21 diagnoses a claim takes: up to twelve, the primary first.
const MAX_DIAGNOSES: usize = 12;

/// Creates one draft claim per encounter (in the order given): completed, not yet on a claim that
/// is not voided, with the patient's active primary coverage and at least one active diagnosis.
/// Otherwise the encounter is skipped with its reason. Runs in a savepoint of the caller's
/// transaction: on an error nothing is created.
pub async fn create_claims_from_encounters(
    conn: &mut PgConnection,
    encounter_ids: &[Uuid],
) -> Result<Vec<CreatedClaim>, BillingError> {
    let mut tx = conn.begin().await?;
    // Two billers creating claims for the same session at once: the second waits here and then
    // sees the first one's claim.
    let mut sorted: Vec<Uuid> = encounter_ids.to_vec();
    sorted.sort();
    sorted.dedup();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('indra-claim-encounter/' || e::text, 0)) from unnest($1::uuid[]) e")
        .bind(&sorted)
        .execute(&mut *tx)
        .await?;

    let encounters = load_encounters(&mut tx, &sorted).await?;
    let already_billed: HashMap<Uuid, String> = sqlx::query_as(
        "select distinct on (l.encounter_id) l.encounter_id, c.claim_number
           from claim_line_items l join billing_claims c on c.org_id = l.org_id and c.id = l.claim_id
          where l.encounter_id = any ($1) and c.status <> 'voided'
          order by l.encounter_id, c.created_at",
    )
    .bind(&sorted)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    let patients: Vec<Uuid> = encounters.values().map(|e| e.patient_id).collect();
    let coverage: HashMap<Uuid, (Uuid, Option<String>)> = sqlx::query(
        "select patient_id, id, authorization_number from patient_insurance
          where patient_id = any ($1) and priority = 'primary' and is_active",
    )
    .bind(&patients)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| {
        Ok((
            row.try_get("patient_id")?,
            (row.try_get("id")?, row.try_get("authorization_number")?),
        ))
    })
    .collect::<Result<_, sqlx::Error>>()?;

    let mut diagnoses: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
    for row in sqlx::query(
        "select patient_id, id, icd10_code from patient_diagnoses
          where patient_id = any ($1) and status = 'active'
          order by patient_id, is_primary desc, diagnosed_on, created_at, id",
    )
    .bind(&patients)
    .fetch_all(&mut *tx)
    .await?
    {
        let list = diagnoses.entry(row.try_get("patient_id")?).or_default();
        if list.len() < MAX_DIAGNOSES {
            list.push((row.try_get("id")?, row.try_get("icd10_code")?));
        }
    }

    let fees: HashMap<(Uuid, String), i64> = sqlx::query_as(
        "select org_id, cpt_code, (charge * 100)::bigint from fee_schedule_entries
          where org_id in (select org_id from encounters where id = any ($1))",
    )
    .bind(&sorted)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(org, code, cents): (Uuid, String, i64)| ((org, code), cents))
    .collect();

    let mut results = Vec::with_capacity(encounter_ids.len());
    let mut created_now: HashMap<Uuid, String> = HashMap::new();
    let mut seen = HashSet::new();
    for &encounter_id in encounter_ids {
        let skip = |reason: String| CreatedClaim {
            encounter_id,
            outcome: ClaimCreation::Skipped { reason },
        };
        if !seen.insert(encounter_id) {
            if let Some(number) = created_now.get(&encounter_id) {
                results.push(skip(format!(
                    "listed twice: already billed on claim {number}"
                )));
            } else {
                results.push(skip("listed twice".to_owned()));
            }
            continue;
        }
        let Some(encounter) = encounters.get(&encounter_id) else {
            results.push(skip("no such session in this practice".to_owned()));
            continue;
        };
        if encounter.status != "completed" {
            results.push(skip(format!(
                "the session is {}, not completed",
                encounter.status.replace('_', " ")
            )));
            continue;
        }
        if let Some(number) = already_billed.get(&encounter_id) {
            results.push(skip(format!("already billed on claim {number}")));
            continue;
        }
        let Some((coverage_id, authorization_number)) = coverage.get(&encounter.patient_id) else {
            results.push(skip(
                "the patient has no active primary insurance (self-pay?)".to_owned(),
            ));
            continue;
        };
        let Some(patient_diagnoses) = diagnoses
            .get(&encounter.patient_id)
            .filter(|d| !d.is_empty())
        else {
            results.push(skip(
                "the patient has no active diagnosis to bill; the clinician adds one to the chart"
                    .to_owned(),
            ));
            continue;
        };
        let Some(facts) = encounter.facts() else {
            results.push(skip(format!(
                "the session's type ({}) or modality ({}) is not one the code suggestion knows",
                encounter.encounter_type, encounter.modality
            )));
            continue;
        };
        let suggestion = suggest_codes(&facts);
        if suggestion.lines.is_empty() {
            let why = if suggestion.not_billed.is_empty() {
                "nothing to bill for this session".to_owned()
            } else {
                suggestion.not_billed.join("; ")
            };
            results.push(skip(why));
            continue;
        }

        let claim: (Uuid, String) = sqlx::query_as(
            "insert into billing_claims (org_id, patient_id, patient_insurance_id, rendering_provider_id,
                                         place_of_service, prior_authorization_number)
             values ($1, $2, $3, $4, $5, $6) returning id, claim_number",
        )
        .bind(encounter.org_id)
        .bind(encounter.patient_id)
        .bind(coverage_id)
        .bind(encounter.provider_id)
        .bind(suggestion.place_of_service.code)
        .bind(authorization_number.as_deref())
        .fetch_one(&mut *tx)
        .await?;
        let (claim_id, claim_number) = claim;

        let sequences: Vec<i16> = (1..=patient_diagnoses.len() as i16).collect();
        let (diagnosis_ids, codes): (Vec<Uuid>, Vec<String>) =
            patient_diagnoses.iter().cloned().unzip();
        sqlx::query(
            "insert into claim_diagnoses (org_id, claim_id, sequence, icd10_code, patient_diagnosis_id)
             select $1, $2, s, c, d from unnest($3::smallint[], $4::text[], $5::uuid[]) as t(s, c, d)",
        )
        .bind(encounter.org_id)
        .bind(claim_id)
        .bind(&sequences)
        .bind(&codes)
        .bind(&diagnosis_ids)
        .execute(&mut *tx)
        .await?;

        // Every line points at the primary diagnosis, then the next ones up to four.
        let pointers: Vec<i32> = (1..=patient_diagnoses.len().min(4) as i32).collect();
        let mut explanations = Vec::new();
        for (index, line) in suggestion.lines.iter().enumerate() {
            let charge = fees
                .get(&(encounter.org_id, line.cpt_code.to_owned()))
                .copied()
                .unwrap_or(0);
            let modifiers: Vec<&str> = line.modifiers.clone();
            sqlx::query(
                "insert into claim_line_items (org_id, claim_id, encounter_id, line_number, cpt_code, modifiers,
                                               units, charge, service_date, place_of_service, diagnosis_pointers)
                 values ($1, $2, $3, $4, $5, $6, $7, ($8::bigint::numeric / 100), $9, $10, $11)",
            )
            .bind(encounter.org_id)
            .bind(claim_id)
            .bind(encounter.id)
            .bind(index as i16 + 1)
            .bind(line.cpt_code)
            .bind(&modifiers)
            .bind(i16::try_from(line.units).unwrap_or(i16::MAX))
            .bind(charge)
            .bind(encounter.service_date)
            .bind(suggestion.place_of_service.code)
            .bind(&pointers)
            .execute(&mut *tx)
            .await?;
            explanations.push(line.why.clone());
        }
        explanations.push(suggestion.place_of_service.why.clone());
        explanations.extend(suggestion.not_billed.iter().cloned());

        created_now.insert(encounter_id, claim_number.clone());
        results.push(CreatedClaim {
            encounter_id,
            outcome: ClaimCreation::Created {
                claim_id,
                claim_number,
                explanations,
            },
        });
    }
    tx.commit().await?;
    Ok(results)
}

struct Encounter {
    id: Uuid,
    org_id: Uuid,
    patient_id: Uuid,
    provider_id: Uuid,
    status: String,
    encounter_type: String,
    modality: String,
    minutes: Option<i32>,
    psychotherapy_minutes: Option<i32>,
    interactive_complexity: bool,
    service_date: Date,
    established: bool,
    provider_credentials: String,
}

impl Encounter {
    fn facts(&self) -> Option<SessionFacts> {
        let encounter_type = EncounterType::from_db(&self.encounter_type)?;
        let modality = Modality::from_db(&self.modality)?;
        Some(SessionFacts {
            encounter_type,
            modality,
            total_minutes: self
                .minutes
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(0),
            psychotherapy_minutes: self
                .psychotherapy_minutes
                .and_then(|m| u32::try_from(m).ok()),
            patient_status: if self.established {
                PatientStatus::Established
            } else {
                PatientStatus::New
            },
            interactive_complexity: self.interactive_complexity,
            // An encounter is held with its patient.
            patient_present: true,
            with_medical_services: is_prescriber(&self.provider_credentials),
        })
    }
}

async fn load_encounters(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Encounter>, sqlx::Error> {
    let rows = sqlx::query(
        "select e.id, e.org_id, e.patient_id, e.provider_id, e.status::text as status,
                e.encounter_type::text as encounter_type, e.modality::text as modality,
                e.duration_minutes, e.psychotherapy_minutes, e.interactive_complexity,
                (coalesce(e.started_at, e.scheduled_start, now()) at time zone o.time_zone)::date as service_date,
                exists (select 1 from encounters earlier
                         where earlier.org_id = e.org_id and earlier.patient_id = e.patient_id
                           and earlier.status = 'completed' and earlier.id <> e.id
                           and earlier.started_at < e.started_at) as established,
                p.credentials
           from encounters e
           join organizations o on o.id = e.org_id
           join providers p on p.org_id = e.org_id and p.id = e.provider_id
          where e.id = any ($1)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut encounters = HashMap::with_capacity(rows.len());
    for row in rows {
        let encounter = Encounter {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            patient_id: row.try_get("patient_id")?,
            provider_id: row.try_get("provider_id")?,
            status: row.try_get("status")?,
            encounter_type: row.try_get("encounter_type")?,
            modality: row.try_get("modality")?,
            minutes: row.try_get("duration_minutes")?,
            psychotherapy_minutes: row.try_get("psychotherapy_minutes")?,
            interactive_complexity: row.try_get("interactive_complexity")?,
            service_date: row.try_get("service_date")?,
            established: row.try_get("established")?,
            provider_credentials: row.try_get("credentials")?,
        };
        encounters.insert(encounter.id, encounter);
    }
    Ok(encounters)
}

#[cfg(test)]
mod tests {
    use super::is_prescriber;

    #[test]
    fn prescribers_are_known_by_their_credentials() {
        assert!(is_prescriber("PMHNP-BC"));
        assert!(is_prescriber("MD"));
        assert!(is_prescriber("DO, MPH"));
        assert!(!is_prescriber("LCSW"));
        assert!(!is_prescriber("PsyD"));
        assert!(!is_prescriber("LPC-A"));
    }
}
