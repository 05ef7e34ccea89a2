//! Committing a reviewed run: the accepted and edited actions become rows, as the reviewing
//! provider (the caller), under RLS, in one savepoint of the caller's transaction, in
//! dependency order (each patient's encounter, then its note draft and billing, medications,
//! appointments). The rows are the ones the API creates, by the same statements: an encounter
//! recorded completed, a `note_drafts` row (never a clinical note), a draft claim by
//! `indra_db::billing::create_claims_from_encounters`, medication rows (a change ends the old
//! row and links the new one), appointments (a series expanded in the practice's zone).
//!
//! A failure rolls the savepoint back (nothing applied) and marks the run failed with the
//! reason; the caller commits to keep the mark. A committed run commits again as a no-op with
//! the same outcome.

use std::collections::BTreeMap;

use indra_db::billing::{ClaimCreation, create_claims_from_encounters};
use indra_rules::clinical::recurrence::{self, RecurrenceRule, Zone};
use serde::{Deserialize, Serialize};
use sqlx::{Acquire, PgConnection};
use time::{Month, PrimitiveDateTime};
use uuid::Uuid;

use super::{AiError, load_actions};
use crate::dictation::{MedicationChange, ProposedAction};

/// A row a committed action created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedRecord {
    pub action_id: Uuid,
    pub table: String,
    pub record_id: Uuid,
}

/// What a commit created, in commit order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitOutcome {
    pub created: Vec<CreatedRecord>,
}

/// See the module documentation.
pub async fn commit_run(conn: &mut PgConnection, run_id: Uuid) -> Result<CommitOutcome, AiError> {
    let status: String = sqlx::query_scalar("select status::text from ai_runs where id = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AiError::NotFound)?;
    if status == "committed" {
        return outcome_of(conn, run_id).await;
    }
    if status != "ready_to_commit" {
        return Err(AiError::Conflict(format!(
            "the run is {}: only a run ready to commit is committed",
            status.replace('_', " ")
        )));
    }
    // Two commits of one run at once: the second waits, then finds it committed.
    let locked: String =
        sqlx::query_scalar("select status::text from ai_runs where id = $1 for update")
            .bind(run_id)
            .fetch_one(&mut *conn)
            .await?;
    if locked == "committed" {
        return outcome_of(conn, run_id).await;
    }

    let applied = {
        let mut savepoint = conn.begin().await?;
        match apply(&mut savepoint, run_id).await {
            Ok(outcome) => {
                savepoint.commit().await?;
                Ok(outcome)
            }
            Err(reason) => {
                savepoint.rollback().await?;
                Err(reason)
            }
        }
    };
    match applied {
        Ok(outcome) => Ok(outcome),
        Err(reason) => {
            sqlx::query(
                "update ai_runs set status = 'failed', error = $2, finished_at = now() where id = $1",
            )
            .bind(run_id)
            .bind(format!("the commit applied nothing: {reason}"))
            .execute(&mut *conn)
            .await?;
            Err(AiError::CommitFailed(reason))
        }
    }
}

async fn outcome_of(conn: &mut PgConnection, run_id: Uuid) -> Result<CommitOutcome, AiError> {
    Ok(CommitOutcome {
        created: load_actions(conn, run_id)
            .await?
            .into_iter()
            .filter_map(|a| {
                Some(CreatedRecord {
                    action_id: a.id,
                    table: a.created_record_table?,
                    record_id: a.created_record_id?,
                })
            })
            .collect(),
    })
}

/// The reason a database refusal gives, in words.
fn reason(action: &str, e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => match d.constraint() {
            Some(c) => format!("{action}: refused by {c}"),
            None => format!("{action}: {}", d.message()),
        },
        None => format!("{action}: {e}"),
    }
}

struct RunRow {
    id: Uuid,
    org_id: Uuid,
    time_zone: String,
    today: time::Date,
}

async fn apply(conn: &mut PgConnection, run_id: Uuid) -> Result<CommitOutcome, String> {
    let (org_id, time_zone, today): (Uuid, String, time::Date) = sqlx::query_as(
        "select r.org_id, o.time_zone, (r.run_clock at time zone o.time_zone)::date
           from ai_runs r join organizations o on o.id = r.org_id where r.id = $1",
    )
    .bind(run_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| reason("reading the run", &e))?;
    let run = RunRow {
        id: run_id,
        org_id,
        time_zone,
        today,
    };
    let actions = load_actions(conn, run_id)
        .await
        .map_err(|e| format!("reading the proposals: {e}"))?;
    let mut encounters: BTreeMap<i32, (Uuid, String, String)> = BTreeMap::new();
    let mut group_session: Option<Uuid> = None;
    let mut created = Vec::new();
    for action in actions
        .iter()
        .filter(|a| a.status == "accepted" || a.status == "edited")
    {
        let proposal = action
            .effective()
            .ok_or_else(|| format!("{}: the proposal cannot be read", action.action_type))?;
        let patient_id: Uuid = proposal
            .patient_id()
            .parse()
            .map_err(|_| format!("{}: no such patient", action.action_type))?;
        let (table, record_id) = match &proposal {
            ProposedAction::CreateEncounter(p) => {
                let group = if p.encounter_type.code() == "group_therapy" {
                    Some(*group_session.get_or_insert_with(Uuid::new_v4))
                } else {
                    None
                };
                let start = p
                    .start_time
                    .map(|t| format!("{}T{}", p.date, t))
                    .unwrap_or_else(|| format!("{}T12:00:00", p.date));
                let id: Uuid = sqlx::query_scalar(
                    "insert into encounters (org_id, patient_id, provider_id, encounter_type, modality, status,
                                             scheduled_start, started_at, ended_at, psychotherapy_minutes,
                                             interactive_complexity, group_session_id)
                     select $1, $2, app.provider_id(), $3::encounter_type, $4::session_modality, 'completed',
                            s.at, s.at, s.at + make_interval(mins => $5), $6, $7, $8
                       from (select ($9::timestamp at time zone $10) as at) s
                     returning id",
                )
                .bind(run.org_id)
                .bind(patient_id)
                .bind(p.encounter_type.code())
                .bind(modality_code(p.modality))
                .bind(i32::try_from(p.duration_minutes).unwrap_or(i32::MAX))
                .bind(p.psychotherapy_minutes.and_then(|m| i32::try_from(m).ok()))
                .bind(p.interactive_complexity)
                .bind(group)
                .bind(start)
                .bind(&run.time_zone)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| reason("the encounter", &e))?;
                encounters.insert(
                    action.action_group,
                    (
                        id,
                        p.encounter_type.code().to_owned(),
                        modality_code(p.modality).to_owned(),
                    ),
                );
                ("encounters", id)
            }
            ProposedAction::CreateNoteDraft(p) => {
                let encounter = encounters.get(&action.action_group).map(|e| e.0);
                let content = serde_json::to_value(&p.sections).map_err(|e| e.to_string())?;
                let id: Uuid = sqlx::query_scalar(
                    "insert into note_drafts (org_id, ai_run_id, proposed_action_id, patient_id, encounter_id,
                                              provider_id, format, content, evidence)
                     values ($1, $2, $3, $4, $5, app.provider_id(), $6::note_format, $7,
                             jsonb_build_object('dictation', $8::jsonb))
                     returning id",
                )
                .bind(run.org_id)
                .bind(run.id)
                .bind(action.id)
                .bind(patient_id)
                .bind(encounter)
                .bind(&p.format)
                .bind(content)
                .bind(serde_json::to_value(&action.evidence).unwrap_or_default())
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| reason("the note draft", &e))?;
                ("note_drafts", id)
            }
            ProposedAction::SuggestBilling(_) => {
                let encounter = encounters.get(&action.action_group).map(|e| e.0).ok_or(
                    "suggest_billing: its encounter is not accepted; accept it or reject the billing",
                )?;
                let results = create_claims_from_encounters(conn, &[encounter])
                    .await
                    .map_err(|e| format!("the claim: {e}"))?;
                match results.into_iter().next().map(|r| r.outcome) {
                    Some(ClaimCreation::Created { claim_id, .. }) => ("billing_claims", claim_id),
                    Some(ClaimCreation::Skipped { reason }) => {
                        return Err(format!("the claim was not created: {reason}"));
                    }
                    None => return Err("the claim was not created".to_owned()),
                }
            }
            ProposedAction::UpdateMedication(p) => {
                let id = medication(conn, &run, patient_id, p).await?;
                ("medications", id)
            }
            ProposedAction::CreateAppointment(p) => {
                let (kind, modality) = encounters
                    .get(&action.action_group)
                    .map(|e| (e.1.clone(), e.2.clone()))
                    .unwrap_or_else(|| ("individual_therapy".to_owned(), "in_person".to_owned()));
                let id = appointment(conn, &run, patient_id, p, &kind, &modality).await?;
                ("appointments", id)
            }
        };
        sqlx::query(
            "update ai_proposed_actions set status = 'committed', created_record_table = $2, created_record_id = $3
              where id = $1",
        )
        .bind(action.id)
        .bind(table)
        .bind(record_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| reason("recording what was created", &e))?;
        created.push(CreatedRecord {
            action_id: action.id,
            table: table.to_owned(),
            record_id,
        });
    }
    sqlx::query(
        "update ai_runs set status = 'committed', committed_at = now(), committed_by_user_id = app.user_id()
          where id = $1",
    )
    .bind(run.id)
    .execute(&mut *conn)
    .await
    .map_err(|e| reason("the run", &e))?;
    Ok(CommitOutcome { created })
}

fn modality_code(m: crate::dictation::Modality) -> &'static str {
    match m {
        crate::dictation::Modality::InPerson => "in_person",
        crate::dictation::Modality::Video => "video",
        crate::dictation::Modality::AudioOnly => "audio_only",
    }
}

async fn medication(
    conn: &mut PgConnection,
    run: &RunRow,
    patient_id: Uuid,
    p: &crate::dictation::MedicationProposal,
) -> Result<Uuid, String> {
    let current: Option<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "select id, route, frequency from medications
          where patient_id = $1 and status = 'active' and lower(name) = lower($2)
          order by started_on desc limit 1",
    )
    .bind(patient_id)
    .bind(p.name.trim())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| reason("the medication", &e))?;
    let insert = |previous: Option<Uuid>, route: Option<String>, frequency: Option<String>| {
        sqlx::query_scalar::<_, Uuid>(
            "insert into medications (org_id, patient_id, prescriber_provider_id, name, dose, route, frequency,
                                      started_on, previous_medication_id)
             values ($1, $2, app.provider_id(), $3, $4, $5, $6, $7, $8) returning id",
        )
        .bind(run.org_id)
        .bind(patient_id)
        .bind(p.name.trim().to_owned())
        .bind(p.dose.clone())
        .bind(route)
        .bind(p.frequency.clone().or(frequency))
        .bind(run.today)
        .bind(previous)
    };
    match (p.change, current) {
        (MedicationChange::Started, _) => insert(None, None, None)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| reason("the medication", &e)),
        (MedicationChange::Changed, Some((old, route, frequency))) => {
            sqlx::query(
                "update medications set status = 'changed', ended_on = $2,
                        change_reason = 'changed at a session (assistant proposal, reviewed)' where id = $1",
            )
            .bind(old)
            .bind(run.today)
            .execute(&mut *conn)
            .await
            .map_err(|e| reason("the medication", &e))?;
            insert(Some(old), route, frequency)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| reason("the medication", &e))
        }
        (MedicationChange::Discontinued, Some((old, _, _))) => {
            sqlx::query(
                "update medications set status = 'discontinued', ended_on = $2,
                        change_reason = 'discontinued at a session (assistant proposal, reviewed)' where id = $1",
            )
            .bind(old)
            .bind(run.today)
            .execute(&mut *conn)
            .await
            .map_err(|e| reason("the medication", &e))?;
            Ok(old)
        }
        (_, None) => Err(format!(
            "the medication: {} is not on the patient's active list",
            p.name
        )),
    }
}

fn to_time(local: jiff::civil::DateTime) -> Option<PrimitiveDateTime> {
    let date = time::Date::from_calendar_date(
        i32::from(local.year()),
        Month::try_from(u8::try_from(local.month()).ok()?).ok()?,
        u8::try_from(local.day()).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(local.hour()).ok()?,
        u8::try_from(local.minute()).ok()?,
        u8::try_from(local.second()).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, t))
}

async fn appointment(
    conn: &mut PgConnection,
    run: &RunRow,
    patient_id: Uuid,
    p: &crate::dictation::AppointmentProposal,
    kind: &str,
    modality: &str,
) -> Result<Uuid, String> {
    let zone = Zone::named(&run.time_zone).map_err(|e| e.to_string())?;
    let first = to_time(p.start).ok_or("the appointment: an impossible date")?;
    // A series without an end books its first visit only (the rule needs COUNT or UNTIL).
    let rule = p
        .recurrence
        .as_ref()
        .filter(|r| r.count.is_some())
        .map(|r| RecurrenceRule::from_json(&r.to_rule_json()))
        .transpose()
        .map_err(|e| format!("the appointment's series: {e}"))?;
    let starts: Vec<time::OffsetDateTime> = match &rule {
        None => vec![zone.resolve(first).map_err(|e| e.to_string())?],
        Some(rule) => recurrence::expand(rule, first, &zone)
            .map_err(|e| format!("the appointment's series: {e}"))?
            .into_iter()
            .map(|o| o.starts_at)
            .collect(),
    };
    let stored_rule = rule.as_ref().map(RecurrenceRule::to_json);
    let length = time::Duration::minutes(i64::from(p.duration_minutes));
    let mut head: Option<Uuid> = None;
    for starts_at in starts {
        let id = Uuid::new_v4();
        let (series_id, rule_here) = match (&stored_rule, head) {
            (None, _) => (None, None),
            (Some(rule), None) => (Some(id), Some(rule.clone())),
            (Some(_), Some(h)) => (Some(h), None),
        };
        sqlx::query(
            "insert into appointments (id, org_id, patient_id, provider_id, appointment_type, modality, starts_at,
                                       ends_at, series_id, recurrence_rule)
             values ($1, $2, $3, app.provider_id(), $4::encounter_type, $5::session_modality, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(run.org_id)
        .bind(patient_id)
        .bind(kind)
        .bind(modality)
        .bind(starts_at)
        .bind(starts_at + length)
        .bind(series_id)
        .bind(rule_here)
        .execute(&mut *conn)
        .await
        .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("appointments_no_double_booking") => {
                "the appointment: the provider already has an appointment at that time".to_owned()
            }
            _ => reason("the appointment", &e),
        })?;
        head.get_or_insert(id);
    }
    head.ok_or_else(|| "the appointment: the series has no dates".to_owned())
}

/// Accepts an AI note draft: it becomes an unsigned `clinical_notes` draft of its encounter,
/// written by the caller (the draft's provider), who edits and signs it as any note. Returns
/// the note's id. The draft must be pending review and attached to an encounter.
pub async fn accept_note_draft(conn: &mut PgConnection, draft_id: Uuid) -> Result<Uuid, AiError> {
    let row: Option<(Uuid, Option<Uuid>, String, serde_json::Value, String)> = sqlx::query_as(
        "select patient_id, encounter_id, format::text, content, status::text from note_drafts where id = $1",
    )
    .bind(draft_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (patient_id, encounter_id, format, content, status) = row.ok_or(AiError::NotFound)?;
    if status != "pending_review" {
        return Err(AiError::Conflict(format!("the draft was {status} already")));
    }
    let encounter_id = encounter_id.ok_or_else(|| {
        AiError::Conflict("the draft has no encounter: a note documents an encounter".to_owned())
    })?;
    let note_id = Uuid::new_v4();
    sqlx::query(
        "insert into clinical_notes (id, org_id, patient_id, encounter_id, author_provider_id, lineage_id,
                                     format, content)
         values ($1, app.org_id(), $2, $3, app.provider_id(), $1, $4::note_format, $5)",
    )
    .bind(note_id)
    .bind(patient_id)
    .bind(encounter_id)
    .bind(&format)
    .bind(&content)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update note_drafts set status = 'accepted', accepted_note_id = $2, reviewed_at = now() where id = $1",
    )
    .bind(draft_id)
    .bind(note_id)
    .execute(&mut *conn)
    .await?;
    Ok(note_id)
}
