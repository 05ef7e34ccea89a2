//! One scale organization into the database: every table by COPY, each chunk of rows followed
//! by its audit rows, in one transaction.
//!
//! Runs with `session_replication_role = replica`: no per-row trigger fires (audit,
//! immutability, status arrows, the claims' workflow, the foreign keys' own triggers). What they
//! would have enforced holds by construction here and is checked by tests/demo_scale.rs: every
//! foreign key resolves, notes carry their content hash and valid signatures, claims past draft
//! bill documented sessions and total their lines, every row has its audit row and the chain
//! verifies. CHECK constraints, unique indexes and the no-double-booking exclusion constraint
//! still apply to every row.

use std::time::{Duration as Elapsed, Instant};

use indra_rules::clinical::note_signing::{
    NoteVersionIdentity, note_content_hash, sign_note, signing_time_text,
};
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::audit::AuditChain;
use super::copy_text::CopyRows;
use super::jsonb;
use super::notes::note_content;
use super::plan::{
    CalendarSlot, CalendarStatus, EncounterPlan, IdKind, OrgScalePlan, PAYERS, PatientPlan, amount,
    calendar_encounter, cents_of, charge_of,
};
use super::rows::{AuditedCopy, Copied};
use crate::demo::DEMO_SIGNING_KEY_ID;
use crate::demo::billing::FEE_SCHEDULE;

/// Rows and time spent per table, for one organization or summed over several.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableLoad {
    pub table: &'static str,
    pub rows: u64,
    /// Time spent generating the rows and copying them in.
    pub copy: Elapsed,
    /// Time spent chaining and copying their audit rows.
    pub audit: Elapsed,
}

/// What loading one organization took.
#[derive(Debug, Clone, Default)]
pub struct OrgLoad {
    pub tables: Vec<TableLoad>,
    pub audit_rows: i64,
}

impl OrgLoad {
    fn table(&mut self, table: &'static str) -> &mut TableLoad {
        if let Some(n) = self.tables.iter().position(|t| t.table == table) {
            &mut self.tables[n]
        } else {
            self.tables.push(TableLoad {
                table,
                ..TableLoad::default()
            });
            let last = self.tables.len() - 1;
            &mut self.tables[last]
        }
    }

    fn copied(&mut self, table: &'static str, copied: Copied, started: Instant) {
        let entry = self.table(table);
        entry.rows += copied.rows;
        entry.copy += started.elapsed().saturating_sub(copied.audit);
        entry.audit += copied.audit;
    }

    /// Adds `other`'s rows and times to this one's.
    pub fn add(&mut self, other: &OrgLoad) {
        for t in &other.tables {
            let entry = self.table(t.table);
            entry.rows += t.rows;
            entry.copy += t.copy;
            entry.audit += t.audit;
        }
        self.audit_rows += other.audit_rows;
    }
}

/// Loads organization `plan` on `conn`, whose transaction the caller opened and commits.
pub async fn load_organization(
    conn: &mut PgConnection,
    plan: &OrgScalePlan,
    password_hash: &str,
) -> anyhow::Result<OrgLoad> {
    let mut load = OrgLoad::default();
    sqlx::query("set local session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    // Nothing here needs to survive a crash before the next checkpoint: a lost organization
    // is loaded again by the next run.
    sqlx::query("set local synchronous_commit = off")
        .execute(&mut *conn)
        .await?;
    let actor_role: String = sqlx::query_scalar(
        "select coalesce(nullif(current_setting('role'), 'none'), session_user)::text",
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut chain = AuditChain::new(
        plan.position,
        plan.org_id,
        actor_role,
        format!("demo-scale-{:03}", plan.position),
        OffsetDateTime::now_utc(),
    )?;

    let started = Instant::now();
    let patients = (0..plan.patients)
        .map(|index| plan.patient(index))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut calendar = Vec::new();
    for provider in 0..plan.providers.len() as u32 {
        calendar.extend(plan.calendar(provider)?);
    }
    // The sessions of this week's calendar that already happened have encounters too.
    let this_week = calendar
        .iter()
        .filter(|slot| slot.status == CalendarStatus::Completed)
        .map(|slot| Ok((slot.patient, calendar_encounter(plan, slot)?)))
        .collect::<anyhow::Result<Vec<(u32, EncounterPlan)>>>()?;
    load.table("patients").copy += started.elapsed();

    copy_practice(conn, plan, &mut chain, password_hash, &mut load).await?;
    copy_patients(conn, plan, &mut chain, &patients, &mut load).await?;
    copy_appointments(conn, plan, &mut chain, &patients, &calendar, &mut load).await?;
    let sessions: Vec<(&PatientPlan, &EncounterPlan)> = patients
        .iter()
        .flat_map(|p| p.encounters.iter().map(move |e| (p, e)))
        .chain(this_week.iter().map(|(p, e)| (&patients[*p as usize], e)))
        .collect();
    copy_encounters(conn, plan, &mut chain, &sessions, &mut load).await?;
    copy_notes(conn, plan, &mut chain, &sessions, &mut load).await?;
    copy_claims(conn, plan, &mut chain, &patients, &mut load).await?;
    load.audit_rows = chain.finish(conn).await?;
    Ok(load)
}

/// The organization, its users (with their one shared password hash), providers, payers,
/// fee schedule and assistant settings.
async fn copy_practice(
    conn: &mut PgConnection,
    plan: &OrgScalePlan,
    chain: &mut AuditChain,
    password_hash: &str,
    load: &mut OrgLoad,
) -> anyhow::Result<()> {
    let p = plan.practice;
    let org = plan.org_id;
    let opened = plan.opened_at;

    let started = Instant::now();
    let mut t = AuditedCopy::new("organizations", chain);
    t.uuid("id", org)
        .text("name", &plan.name)
        .text("time_zone", p.time_zone)
        .text(
            "tax_id",
            &format!(
                "{:02}-{:07}",
                20 + plan.position % 70,
                3_000_000 + plan.position
            ),
        )
        .text(
            "billing_npi",
            &indra_rules::platform::npi::npi_with_check_digit(&format!("18{:07}", plan.position)),
        )
        .text(
            "address_line1",
            &format!("{} Commerce Way", 200 + plan.position),
        )
        .text("address_line2", &format!("Suite {}", plan.position))
        .text("city", p.city)
        .text("state", p.state)
        // ZIP+4: the 837P's billing provider address requires all nine digits.
        .text(
            "postal_code",
            &format!("{}-{:04}", p.postal_code, 3000 + plan.position),
        )
        .text("phone", "555-0100")
        .timestamp("created_at", opened)
        .timestamp("updated_at", opened);
    t.end_row(conn, None).await?;
    load.copied("organizations", t.finish(conn).await?, started);

    let started = Instant::now();
    let mut t = AuditedCopy::new("users", chain);
    for user in &plan.users {
        t.uuid("id", user.id)
            .uuid("org_id", org)
            .uuid("auth_id", user.auth_id)
            .text("email", &user.email)
            .text("full_name", &user.full_name)
            .text("role", user.role)
            .bool("is_active", true)
            .null("deactivated_at")
            .timestamp("created_at", opened)
            .timestamp("updated_at", opened);
        t.end_row(conn, None).await?;
    }
    load.copied("users", t.finish(conn).await?, started);
    // The credentials schema is not audited (no API role reaches it).
    let mut credentials = CopyRows::new();
    for user in &plan.users {
        credentials
            .uuid(user.auth_id)
            .text(password_hash)
            .timestamp(opened);
        credentials.end_row();
    }
    let mut copy = conn
        .copy_in_raw(
            "copy indra_auth.password_credentials (auth_id, password_hash, password_changed_at) from stdin",
        )
        .await?;
    copy.send(credentials.take()).await?;
    copy.finish().await?;

    let started = Instant::now();
    let mut t = AuditedCopy::new("providers", chain);
    for provider in &plan.providers {
        t.uuid("id", provider.id)
            .uuid("org_id", org)
            .uuid("user_id", provider.user_id)
            .text("first_name", provider.first_name)
            .text("last_name", provider.last_name)
            .text("credentials", provider.role.credentials)
            .text("npi", &provider.npi)
            .text(
                "license_number",
                &format!("LIC-{}-{:03}{:03}", p.state, plan.position, provider.index),
            )
            .text("license_state", p.state)
            .text("taxonomy_code", provider.role.taxonomy_code)
            .text("preferred_note_format", provider.role.note_format)
            .bool("requires_supervision", provider.supervisor.is_some())
            .opt_uuid(
                "supervisor_id",
                provider.supervisor.map(|s| plan.providers[s as usize].id),
            )
            .bool("is_active", true)
            .timestamp("created_at", opened)
            .timestamp("updated_at", opened)
            .null("calendar_feed_secret_hash");
        t.end_row(conn, None).await?;
    }
    load.copied("providers", t.finish(conn).await?, started);

    let started = Instant::now();
    let mut t = AuditedCopy::new("insurance_payers", chain);
    for (n, (name, payer_id)) in PAYERS.iter().enumerate() {
        t.uuid("id", plan.payer_id(n))
            .uuid("org_id", org)
            .text("name", name)
            .text("payer_id", payer_id)
            .bool("requires_prior_authorization", false)
            .text("address_line1", &format!("PO Box {}", 4000 + n * 17))
            .text("city", "Hartford")
            .text("state", "CT")
            .text("postal_code", "06103")
            .text("phone", "555-0190")
            .bool("is_active", true)
            .timestamp("created_at", opened)
            .timestamp("updated_at", opened);
        t.end_row(conn, None).await?;
    }
    load.copied("insurance_payers", t.finish(conn).await?, started);

    let started = Instant::now();
    let mut t = AuditedCopy::new("fee_schedule_entries", chain);
    for (n, (code, charge)) in FEE_SCHEDULE.iter().enumerate() {
        t.uuid("id", plan.id(IdKind::Fee, n as u64))
            .uuid("org_id", org)
            .text("cpt_code", code)
            .numeric("charge", charge)
            .timestamp("created_at", opened)
            .timestamp("updated_at", opened);
        t.end_row(conn, None).await?;
    }
    load.copied("fee_schedule_entries", t.finish(conn).await?, started);

    // The assistant uses the embedded rules model, as in `indra demo`.
    let started = Instant::now();
    let mut t = AuditedCopy::new("ai_settings", chain);
    t.uuid("org_id", org)
        .text("model_kind", "rules")
        .null("model_name")
        .null("base_url")
        .null("api_key_env")
        .bool("external_allowed", false)
        .null("enabled_by_user_id")
        .null("enabled_at")
        .timestamp("created_at", opened)
        .timestamp("updated_at", opened);
    t.end_row(conn, None).await?;
    load.copied("ai_settings", t.finish(conn).await?, started);
    Ok(())
}

/// Patients, their coverage and their diagnoses.
async fn copy_patients(
    conn: &mut PgConnection,
    plan: &OrgScalePlan,
    chain: &mut AuditChain,
    patients: &[PatientPlan],
    load: &mut OrgLoad,
) -> anyhow::Result<()> {
    let p = plan.practice;
    let org = plan.org_id;
    let started = Instant::now();
    let mut t = AuditedCopy::new("patients", chain);
    for patient in patients {
        t.uuid("id", patient.id)
            .uuid("org_id", org)
            .text("mrn", &patient.mrn)
            .text("first_name", patient.first_name)
            .text("last_name", &patient.last_name)
            .null("preferred_name")
            .date("date_of_birth", patient.date_of_birth)
            .text("sex_at_birth", patient.sex_at_birth)
            .null("gender_identity")
            .opt_text("pronouns", patient.pronouns)
            .text("email", &patient.email)
            .text("phone", &patient.phone)
            .text("address_line1", &patient.address_line1)
            .null("address_line2")
            .text("city", p.city)
            .text("state", p.state)
            .text("postal_code", p.postal_code)
            .uuid(
                "primary_provider_id",
                plan.providers[patient.provider as usize].id,
            )
            .text("status", patient.status)
            .opt_date("discharged_on", patient.discharged_on)
            .opt_text(
                "discharge_reason",
                patient.discharged_on.map(|_| "Treatment goals met"),
            )
            .timestamp("created_at", patient.created_at)
            .timestamp("updated_at", patient.created_at);
        t.end_row(conn, Some(patient.id)).await?;
    }
    load.copied("patients", t.finish(conn).await?, started);

    let started = Instant::now();
    let mut t = AuditedCopy::new("patient_insurance", chain);
    for patient in patients {
        for coverage in &patient.coverages {
            t.uuid("id", coverage.id)
                .uuid("org_id", org)
                .uuid("patient_id", patient.id)
                .uuid("insurance_payer_id", plan.payer_id(coverage.payer))
                .text("priority", coverage.priority)
                .text("member_id", &coverage.member_id)
                .text("group_number", &coverage.group_number)
                .text(
                    "subscriber_relationship",
                    if coverage.subscriber.is_some() {
                        "child"
                    } else {
                        "self"
                    },
                )
                .opt_text("subscriber_first_name", coverage.subscriber.map(|s| s.0))
                .opt_text("subscriber_last_name", coverage.subscriber.map(|s| s.1))
                .opt_date("subscriber_date_of_birth", coverage.subscriber.map(|s| s.2))
                .date("effective_from", coverage.effective_from)
                .null("effective_to")
                .bool("is_active", true)
                .null("authorization_number")
                .null("authorization_start")
                .null("authorization_end")
                .words("authorized_cpt_codes", &[])
                .null("authorized_sessions")
                .int("sessions_used", 0)
                .timestamp("created_at", patient.created_at)
                .timestamp("updated_at", patient.created_at)
                .int("sessions_over_authorization", 0);
            t.end_row(conn, Some(patient.id)).await?;
        }
    }
    load.copied("patient_insurance", t.finish(conn).await?, started);

    let started = Instant::now();
    let mut t = AuditedCopy::new("patient_diagnoses", chain);
    for patient in patients {
        let at = patient.encounters[0].ended_at;
        for d in &patient.diagnoses {
            t.uuid("id", d.id)
                .uuid("org_id", org)
                .uuid("patient_id", patient.id)
                .text("icd10_code", d.code)
                .text("status", d.status)
                .bool("is_primary", d.is_primary)
                .date("onset_date", d.onset)
                .date("diagnosed_on", d.diagnosed_on)
                .opt_date("resolved_on", d.resolved_on)
                .null("ruled_out_on")
                .uuid(
                    "diagnosed_by_provider_id",
                    plan.providers[patient.provider as usize].id,
                )
                .null("notes")
                .timestamp("created_at", at)
                .timestamp("updated_at", at);
            t.end_row(conn, Some(patient.id)).await?;
        }
    }
    load.copied("patient_diagnoses", t.finish(conn).await?, started);
    Ok(())
}

/// One appointment, every column.
#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, named at the call"
)]
fn appointment<'t, 'c>(
    t: &'t mut AuditedCopy<'c>,
    plan: &OrgScalePlan,
    id: Uuid,
    patient: Uuid,
    provider: Uuid,
    appointment_type: &str,
    video: bool,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
    status: &str,
    cancelled_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
) -> &'t mut AuditedCopy<'c> {
    t.uuid("id", id)
        .uuid("org_id", plan.org_id)
        .uuid("patient_id", patient)
        .uuid("provider_id", provider)
        .text("appointment_type", appointment_type)
        .text("modality", modality(video))
        .timestamp("starts_at", starts_at)
        .timestamp("ends_at", ends_at)
        .generated("time_range", |out| {
            jsonb::time_range(out, starts_at, ends_at)
        })
        .text("status", status)
        .null("series_id")
        .null("recurrence_rule")
        .text("location", location(video))
        .opt_timestamp("cancelled_at", cancelled_at)
        .opt_text(
            "cancel_reason",
            cancelled_at.map(|_| "Client called to reschedule"),
        )
        .timestamp("created_at", created_at)
        .timestamp("updated_at", updated_at)
}

/// The booked history's appointments (each completed by its encounter) and the calendar.
async fn copy_appointments(
    conn: &mut PgConnection,
    plan: &OrgScalePlan,
    chain: &mut AuditChain,
    patients: &[PatientPlan],
    calendar: &[CalendarSlot],
    load: &mut OrgLoad,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut t = AuditedCopy::new("appointments", chain);
    for patient in patients {
        for e in &patient.encounters {
            let Some((id, minutes)) = e.appointment else {
                continue;
            };
            appointment(
                &mut t,
                plan,
                id,
                patient.id,
                plan.providers[e.provider as usize].id,
                e.encounter_type,
                e.video,
                e.scheduled_start,
                e.scheduled_start + Duration::minutes(minutes),
                "completed",
                None,
                e.scheduled_start - Duration::days(7),
                e.ended_at,
            );
            t.end_row(conn, Some(patient.id)).await?;
        }
    }
    let latest = plan.now - Duration::minutes(30);
    for slot in calendar {
        let provider = &plan.providers[slot.provider as usize];
        let created_at = (slot.starts_at - Duration::days(14)).min(latest);
        let cancelled_at = (slot.status == CalendarStatus::Cancelled).then(|| {
            (slot.starts_at - Duration::days(1))
                .min(latest)
                .max(created_at)
        });
        let updated_at = match slot.status {
            CalendarStatus::Scheduled => created_at,
            CalendarStatus::Cancelled => cancelled_at.unwrap_or(created_at),
            CalendarStatus::Completed | CalendarStatus::NoShow => {
                (slot.starts_at + Duration::minutes(slot.minutes)).min(latest)
            }
        };
        let patient = patients[slot.patient as usize].id;
        appointment(
            &mut t,
            plan,
            plan.id(IdKind::CalendarAppointment, slot.index),
            patient,
            provider.id,
            if provider.role.prescriber {
                "medication_management"
            } else {
                "individual_therapy"
            },
            slot.video,
            slot.starts_at,
            slot.starts_at + Duration::minutes(slot.minutes),
            slot.status.as_str(),
            cancelled_at,
            created_at,
            updated_at,
        );
        t.end_row(conn, Some(patient)).await?;
    }
    load.copied("appointments", t.finish(conn).await?, started);
    Ok(())
}

fn modality(video: bool) -> &'static str {
    if video { "video" } else { "in_person" }
}

fn location(video: bool) -> &'static str {
    if video { "Video visit" } else { "Office 2" }
}

fn place_of_service(video: bool) -> &'static str {
    if video { "10" } else { "11" }
}

/// Every session, completed: the courses' and this week's.
async fn copy_encounters(
    conn: &mut PgConnection,
    plan: &OrgScalePlan,
    chain: &mut AuditChain,
    sessions: &[(&PatientPlan, &EncounterPlan)],
    load: &mut OrgLoad,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut t = AuditedCopy::new("encounters", chain);
    for (patient, e) in sessions {
        t.uuid("id", plan.id(IdKind::Encounter, e.index))
            .uuid("org_id", plan.org_id)
            .uuid("patient_id", patient.id)
            .uuid("provider_id", plan.providers[e.provider as usize].id)
            .opt_uuid("appointment_id", e.appointment.map(|(id, _)| id))
            .null("group_session_id")
            .text("encounter_type", e.encounter_type)
            .text("modality", modality(e.video))
            .text("status", "completed")
            .timestamp("scheduled_start", e.scheduled_start)
            .timestamp("started_at", e.started_at)
            .timestamp("ended_at", e.ended_at)
            .generated("duration_minutes", |out| {
                out.extend_from_slice(e.minutes().to_string().as_bytes())
            })
            .null("psychotherapy_minutes")
            .bool("interactive_complexity", false)
            .text("place_of_service", place_of_service(e.video))
            .timestamp("created_at", e.scheduled_start)
            .timestamp("updated_at", e.ended_at);
        t.end_row(conn, Some(patient.id)).await?;
    }
    load.copied("encounters", t.finish(conn).await?, started);
    Ok(())
}

/// Notes (signed, or drafts among the newest) and their signatures: the author's, and the
/// supervisor's for a supervised author once cosigned.
async fn copy_notes(
    conn: &mut PgConnection,
    plan: &OrgScalePlan,
    chain: &mut AuditChain,
    sessions: &[(&PatientPlan, &EncounterPlan)],
    load: &mut OrgLoad,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // The signatures need each signed note's hash: kept for the organization (32 bytes a note)
    // rather than computed twice.
    let mut hashes: Vec<[u8; 32]> = Vec::new();
    let mut t = AuditedCopy::new("clinical_notes", chain);
    for (patient, e) in sessions {
        let author = &plan.providers[e.provider as usize];
        let format = author.role.note_format;
        let content = note_content(format, patient, e);
        let id = plan.id(IdKind::Note, e.index);
        let encounter_id = plan.id(IdKind::Encounter, e.index);
        let hash = e.signed_at.map(|_| {
            let identity = NoteVersionIdentity {
                note_id: id.to_string(),
                lineage_id: id.to_string(),
                version: 1,
                patient_id: patient.id.to_string(),
                encounter_id: encounter_id.to_string(),
                author_provider_id: author.id.to_string(),
                format: format.to_owned(),
                addendum_text: None,
            };
            note_content_hash(&identity, &content)
        });
        t.uuid("id", id)
            .uuid("org_id", plan.org_id)
            .uuid("patient_id", patient.id)
            .uuid("encounter_id", encounter_id)
            .uuid("author_provider_id", author.id)
            .uuid("lineage_id", id)
            .int("version", 1)
            .bool("is_current", true)
            .text(
                "status",
                if e.signed_at.is_some() {
                    "signed"
                } else {
                    "draft"
                },
            )
            .text("format", format)
            .jsonb("content", &content)
            .text("change_kind", "original")
            .null("change_reason")
            .null("addendum_text")
            .null("previous_version_id")
            .opt_timestamp("signed_at", e.signed_at)
            .opt_bytea("content_hash", hash.as_ref().map(|h| &h[..]))
            .timestamp("created_at", e.ended_at)
            .timestamp("updated_at", e.signed_at.unwrap_or(e.ended_at));
        t.end_row(conn, Some(patient.id)).await?;
        hashes.extend(hash);
    }
    load.copied("clinical_notes", t.finish(conn).await?, started);

    let started = Instant::now();
    let key = crate::demo::demo_signing_key();
    let mut t = AuditedCopy::new("note_signatures", chain);
    let mut hashes = hashes.into_iter();
    for (patient, e) in sessions {
        let Some(signed_at) = e.signed_at else {
            continue;
        };
        let hash = hashes
            .next()
            .ok_or_else(|| anyhow::anyhow!("a signed note without its hash"))?;
        let author = &plan.providers[e.provider as usize];
        let mut signers = vec![(author.id, "author", signed_at, 0)];
        if let (Some(supervisor), Some(at)) = (author.supervisor, e.cosigned_at) {
            signers.push((plan.providers[supervisor as usize].id, "supervisor", at, 1));
        }
        for (signer, signature_type, at, n) in signers {
            let signature = sign_note(
                &key,
                &hash,
                &signer.to_string(),
                signature_type,
                &signing_time_text(at),
            );
            t.uuid("id", plan.id(IdKind::Signature, e.index * 2 + n))
                .uuid("org_id", plan.org_id)
                .uuid("note_id", plan.id(IdKind::Note, e.index))
                .uuid("signer_provider_id", signer)
                .text("signature_type", signature_type)
                .bytea("content_hash", &hash)
                .bytea("signature", &signature)
                .text("signing_key_id", DEMO_SIGNING_KEY_ID)
                .timestamp("signed_at", at);
            t.end_row(conn, Some(patient.id)).await?;
        }
    }
    load.copied("note_signatures", t.finish(conn).await?, started);
    Ok(())
}

/// Claims of the newest insured sessions, their diagnoses and their one line each.
async fn copy_claims(
    conn: &mut PgConnection,
    plan: &OrgScalePlan,
    chain: &mut AuditChain,
    patients: &[PatientPlan],
    load: &mut OrgLoad,
) -> anyhow::Result<()> {
    let org = plan.org_id;
    let started = Instant::now();
    let mut t = AuditedCopy::new("billing_claims", chain);
    for patient in patients {
        for claim in &patient.claims {
            let e = &patient.encounters[claim.encounter];
            let paid = claim.paid_cents.map(|(paid, _)| amount(paid));
            let own = claim.paid_cents.map(|(_, own)| amount(own));
            t.uuid("id", claim.id)
                .uuid("org_id", org)
                .uuid("patient_id", patient.id)
                .uuid("patient_insurance_id", patient.coverages[0].id)
                .uuid(
                    "rendering_provider_id",
                    plan.providers[e.provider as usize].id,
                )
                .text(
                    "claim_number",
                    &format!("C{:03}-{:07}", plan.position, e.index),
                )
                .text("status", claim.status)
                .text("place_of_service", place_of_service(e.video))
                .null("prior_authorization_number")
                .numeric("total_charge", claim.charge)
                .opt_numeric("paid_amount", paid.as_deref())
                .opt_numeric("patient_responsibility", own.as_deref())
                .null("authorization_override_reason")
                .opt_timestamp("submitted_at", claim.submitted_at)
                .opt_timestamp("adjudicated_at", claim.adjudicated_at)
                .timestamp("created_at", claim.created_at)
                .timestamp("updated_at", claim.updated_at)
                .opt_timestamp("voided_at", claim.voided_at)
                .opt_text(
                    "void_reason",
                    claim.voided_at.map(|_| "Billed under the wrong coverage"),
                )
                .int("sessions_counted", 0)
                .int("sessions_over_authorization", 0)
                .null("authorization_overridden_by")
                .null("authorization_overridden_at");
            t.end_row(conn, Some(patient.id)).await?;
        }
    }
    load.copied("billing_claims", t.finish(conn).await?, started);

    let started = Instant::now();
    let mut t = AuditedCopy::new("claim_diagnoses", chain);
    for patient in patients {
        for claim in &patient.claims {
            let e = &patient.encounters[claim.encounter];
            for (n, d) in patient.billed_diagnoses().enumerate() {
                t.uuid(
                    "id",
                    plan.id(IdKind::ClaimDiagnosis, e.index * 4 + n as u64),
                )
                .uuid("org_id", org)
                .uuid("claim_id", claim.id)
                .int("sequence", n as i64 + 1)
                .text("icd10_code", d.code)
                .uuid("patient_diagnosis_id", d.id);
                t.end_row(conn, Some(patient.id)).await?;
            }
        }
    }
    load.copied("claim_diagnoses", t.finish(conn).await?, started);

    let started = Instant::now();
    let mut t = AuditedCopy::new("claim_line_items", chain);
    for patient in patients {
        let pointers: Vec<i64> = (1..=patient.billed_diagnoses().count() as i64).collect();
        for claim in &patient.claims {
            let e = &patient.encounters[claim.encounter];
            let paid = claim.paid_cents.map(|(paid, _)| amount(paid));
            let own = claim.paid_cents.map(|(_, own)| amount(own));
            let adjustment = claim
                .paid_cents
                .map(|(paid, own)| amount(cents_of(charge_of(e.cpt_code)) - paid - own));
            t.uuid("id", plan.id(IdKind::ClaimLine, e.index))
                .uuid("org_id", org)
                .uuid("claim_id", claim.id)
                .uuid("encounter_id", plan.id(IdKind::Encounter, e.index))
                .int("line_number", 1)
                .text("cpt_code", e.cpt_code)
                .words("modifiers", if e.video { &["95"] } else { &[] })
                .int("units", 1)
                .numeric("charge", claim.charge)
                .date("service_date", e.service_date)
                .text("place_of_service", place_of_service(e.video))
                .ints("diagnosis_pointers", &pointers)
                .opt_numeric("paid_amount", paid.as_deref())
                .timestamp("created_at", claim.created_at)
                .timestamp("updated_at", claim.updated_at)
                .opt_numeric("patient_responsibility", own.as_deref())
                .opt_numeric("adjustment_amount", adjustment.as_deref());
            t.end_row(conn, Some(patient.id)).await?;
        }
    }
    load.copied("claim_line_items", t.finish(conn).await?, started);
    Ok(())
}
