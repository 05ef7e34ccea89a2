//! What a scale organization holds, decided without the database: its people, each patient's
//! chart, and each provider's calendar.
//!
//! Everything is derived from the organization's position and the week the load runs in, through
//! a small deterministic generator, so loading organization 7 twice in one week gives the same
//! rows. Ids are structured (tag, organization, table, index) rather than random, so that rows
//! of one load go to the right-hand end of every `(org_id, id)` index instead of all over it.
//!
//! The calendar: a provider works 50 one-hour slots a week (Monday to Friday, 8:00 to 18:00
//! local time). A patient keeps one slot for a course of five sessions (weekly; every other
//! week with a prescriber when the history leaves room), and patients sharing a slot take
//! turns, each in their own band of the two-year history, so that no provider is ever booked
//! twice at once (the appointments' exclusion constraint holds by construction).

use indra_rules::clinical::recurrence::Zone;
use indra_rules::platform::npi::npi_with_check_digit;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};
use uuid::Uuid;

use crate::demo::names::{
    CLINICIANS, ClinicianRole, FIRST_NAMES, LAST_NAMES, PRACTICES, PRIMARY_DIAGNOSES, Practice,
};

/// Clinicians per organization.
pub const PROVIDERS_PER_ORG: u32 = 25;
/// Sessions in a patient's course of treatment.
pub const ENCOUNTERS_PER_PATIENT: u32 = 5;
/// How far back the encounters go.
pub const HISTORY_WEEKS: u32 = 104;
/// One-hour slots in a provider's week: five days of ten hours.
pub const SLOTS_PER_WEEK: u32 = 50;
/// Encounters of the last weeks were booked: each has its (completed) appointment.
pub const BOOKED_HISTORY_WEEKS: u32 = 8;
/// The calendar ahead: this week and the next three.
pub const CALENDAR_WEEKS: u32 = 4;
/// Encounters of the last weeks of insured patients were billed.
pub const CLAIM_WEEKS: u32 = 12;
/// A clinician's caseload when their calendar is as full as a practice's (15 to 40 sessions a
/// week): smaller test organizations book less.
pub const FULL_CASELOAD: u32 = 200;
/// The most patients an organization can hold: each provider's slots are shared by at most
/// twenty patients over the history (bands of at least five weeks).
pub const MAX_PATIENTS_PER_ORG: u32 = PROVIDERS_PER_ORG * SLOTS_PER_WEEK * 20;

/// The payers every scale organization bills.
pub const PAYERS: &[(&str, &str)] = &[
    ("Blue Harbor Health Plan", "BHHP1"),
    ("Summit Mutual Insurance", "SMI01"),
    ("Crescent Valley Health", "CVH22"),
    ("Northwind Employee Benefits", "NWEB7"),
];

/// Secondary diagnoses: context codes and a second disorder.
const SECONDARY_DIAGNOSES: &[&str] = &["Z63.0", "Z56.3", "Z56.0", "Z55.3", "F41.9"];
/// Diagnoses of the past, now resolved.
const RESOLVED_DIAGNOSES: &[&str] = &["F43.21", "F43.0", "F32.0"];

/// Which table an id belongs to (12 bits of the id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum IdKind {
    Organization = 1,
    User = 2,
    Auth = 3,
    Provider = 4,
    Payer = 5,
    Patient = 6,
    Coverage = 7,
    Diagnosis = 8,
    /// The appointment an encounter was booked as (index: the encounter's).
    BookedAppointment = 9,
    /// An appointment of the calendar (index: the slot's).
    CalendarAppointment = 10,
    Encounter = 11,
    Note = 12,
    Signature = 13,
    Claim = 14,
    ClaimDiagnosis = 15,
    ClaimLine = 16,
    Fee = 17,
    Audit = 18,
}

/// A scale id: `5ca1e000-<org>-8<kind>-<index>`, a UUIDv8 that sorts by organization, table and
/// index. Distinct from every `indra demo` id (those are SHA-256 based).
pub fn scale_id(position: u32, kind: IdKind, index: u64) -> Uuid {
    let kind = kind as u16;
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&[0x5c, 0xa1, 0xe0, 0x00]);
    bytes[4..6].copy_from_slice(&(position as u16).to_be_bytes());
    bytes[6..8].copy_from_slice(&(kind & 0x0fff).to_be_bytes());
    bytes[8..].copy_from_slice(&(index & 0x3fff_ffff_ffff_ffff).to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// SplitMix64: small, fast and good enough to vary fictitious data; seeded per purpose so that
/// one table's choices never shift another's.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(parts: &[u64]) -> Self {
        let mut state = 0x1d8e_4e27_c47d_124f_u64;
        for part in parts {
            state = mix(state ^ part.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        Self(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seeds of the generator, one per purpose.
mod seed {
    pub const PATIENT: u64 = 1;
    pub const ENCOUNTER: u64 = 2;
    pub const NOTE: u64 = 3;
    pub const CLAIM: u64 = 4;
    pub const CALENDAR: u64 = 5;
    pub const PROVIDER: u64 = 6;
}

/// A clinician of a scale organization.
#[derive(Clone)]
pub struct ProviderPlan {
    /// 0-based; the login is `clinician{index + 1}@...`.
    pub index: u32,
    pub id: Uuid,
    pub user_id: Uuid,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub role: &'static ClinicianRole,
    pub npi: String,
    pub supervisor: Option<u32>,
    /// Sessions booked in a typical week ahead (15 to 40) with a full caseload.
    full_per_week: u32,
    /// The caseload against a full one of [`FULL_CASELOAD`] patients (at most 1): smaller test
    /// practices book fewer sessions in proportion.
    caseload_share: f64,
}

/// A user of a scale organization.
#[derive(Debug, Clone)]
pub struct UserPlan {
    pub id: Uuid,
    pub auth_id: Uuid,
    pub email: String,
    pub full_name: String,
    /// `admin`, `provider`, `billing` or `staff`.
    pub role: &'static str,
}

/// Everything about scale organization `position` that does not need the database.
#[derive(Clone)]
pub struct OrgScalePlan {
    pub position: u32,
    pub org_id: Uuid,
    pub name: String,
    pub practice: &'static Practice,
    pub zone: Zone,
    pub patients: u32,
    /// When the load runs: everything before it happened, everything after is booked.
    pub now: OffsetDateTime,
    /// Monday of the load's week, in the practice's time zone.
    pub this_monday: Date,
    /// When the practice's own rows (organization, users, providers) were created.
    pub opened_at: OffsetDateTime,
    pub users: Vec<UserPlan>,
    pub providers: Vec<ProviderPlan>,
    /// Patients sharing one slot over the history, and the weeks each one's band spans.
    groups: u32,
    band: u32,
}

impl OrgScalePlan {
    pub fn new(position: u32, patients: u32, now: OffsetDateTime) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=999).contains(&position),
            "scale organizations are numbered 1 to 999"
        );
        anyhow::ensure!(
            (1..=MAX_PATIENTS_PER_ORG).contains(&patients),
            "patients per organization must be between 1 and {MAX_PATIENTS_PER_ORG}"
        );
        // Whole seconds: every time derived from it is stored exactly as written.
        let now = now.replace_nanosecond(0)?;
        let practice = &PRACTICES[(position as usize - 1) % PRACTICES.len()];
        let zone = Zone::named(practice.time_zone)?;
        let today = zone.local(now).date();
        let this_monday =
            today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
        let per_provider = patients.div_ceil(PROVIDERS_PER_ORG);
        let groups = per_provider.div_ceil(SLOTS_PER_WEEK);
        let band = HISTORY_WEEKS / groups;
        let domain = format!("org{position:03}.scale.indra.test");
        let opened_at = zone.resolve(PrimitiveDateTime::new(
            this_monday - Duration::weeks(i64::from(HISTORY_WEEKS) + 8),
            Time::from_hms(9, 0, 0)?,
        ))?;

        let mut users = vec![UserPlan {
            id: scale_id(position, IdKind::User, 0),
            auth_id: scale_id(position, IdKind::Auth, 0),
            email: format!("admin@{domain}"),
            full_name: "Morgan Practice-Admin".to_owned(),
            role: "admin",
        }];
        let mut providers = Vec::new();
        let p = position as usize;
        for index in 0..PROVIDERS_PER_ORG {
            let i = index as usize;
            let role = &CLINICIANS[i % CLINICIANS.len()];
            let first_name = FIRST_NAMES[(p * 5 + i * 11 + 3) % FIRST_NAMES.len()];
            let last_name = LAST_NAMES[(p * 3 + i * 13 + 7) % LAST_NAMES.len()];
            let user_index = u64::from(index) + 1;
            let user_id = scale_id(position, IdKind::User, user_index);
            users.push(UserPlan {
                id: user_id,
                auth_id: scale_id(position, IdKind::Auth, user_index),
                email: format!("clinician{}@{domain}", index + 1),
                full_name: format!("{first_name} {last_name}, {}", role.credentials),
                role: "provider",
            });
            let mut rng = Prng::new(&[seed::PROVIDER, u64::from(position), u64::from(index)]);
            providers.push(ProviderPlan {
                index,
                id: scale_id(position, IdKind::Provider, u64::from(index)),
                user_id,
                first_name,
                last_name,
                role,
                // Nine digits unique in the practice (and across the scale set), then Luhn.
                npi: npi_with_check_digit(&format!("17{:04}{:03}", position, index)),
                // The supervised clinician practises under the one before (a licensed PsyD).
                supervisor: role.requires_supervision.then(|| index - 1),
                full_per_week: 17 + rng.below(22) as u32,
                caseload_share: (f64::from(per_provider) / f64::from(FULL_CASELOAD)).min(1.0),
            });
        }
        let n = PROVIDERS_PER_ORG as u64;
        users.push(UserPlan {
            id: scale_id(position, IdKind::User, n + 1),
            auth_id: scale_id(position, IdKind::Auth, n + 1),
            email: format!("billing@{domain}"),
            full_name: "Riley Billing-Specialist".to_owned(),
            role: "billing",
        });
        users.push(UserPlan {
            id: scale_id(position, IdKind::User, n + 2),
            auth_id: scale_id(position, IdKind::Auth, n + 2),
            email: format!("frontdesk@{domain}"),
            full_name: "Jordan Front-Desk".to_owned(),
            role: "staff",
        });

        Ok(Self {
            position,
            org_id: scale_id(position, IdKind::Organization, 0),
            name: format!("Scale Practice {position:03}"),
            practice,
            zone,
            patients,
            now,
            this_monday,
            opened_at,
            users,
            providers,
            groups,
            band,
        })
    }

    pub fn id(&self, kind: IdKind, index: u64) -> Uuid {
        scale_id(self.position, kind, index)
    }

    pub fn payer_id(&self, payer: usize) -> Uuid {
        self.id(IdKind::Payer, payer as u64)
    }

    /// The instant slot `slot` of the week `week` weeks from this one starts (negative: past).
    pub fn slot_start(&self, week: i64, slot: u32) -> anyhow::Result<OffsetDateTime> {
        let day = self.this_monday + Duration::days(week * 7 + i64::from(slot / 10));
        let hour = 8 + (slot % 10) as u8;
        Ok(self
            .zone
            .resolve(PrimitiveDateTime::new(day, Time::from_hms(hour, 0, 0)?))?)
    }

    /// The local date of slot `slot` of week `week`.
    pub fn slot_date(&self, week: i64, slot: u32) -> Date {
        self.this_monday + Duration::days(week * 7 + i64::from(slot / 10))
    }

    /// Patients of provider `provider`: those whose index is `provider` modulo the providers.
    fn patients_of(&self, provider: u32) -> u32 {
        (self.patients + PROVIDERS_PER_ORG - 1 - provider) / PROVIDERS_PER_ORG
    }

    /// Weeks between two sessions of a course with `role`.
    fn interval(&self, role: &ClinicianRole) -> u32 {
        let every_other_week = (ENCOUNTERS_PER_PATIENT - 1) * 2 + 1;
        if role.prescriber && self.band >= every_other_week {
            2
        } else {
            1
        }
    }

    /// The patient whose chart holds index `index` (0-based).
    pub fn patient(&self, index: u32) -> anyhow::Result<PatientPlan> {
        PatientPlan::new(self, index)
    }

    /// Whether slot `slot` of provider `provider`, `weeks_ago` weeks back, holds a session.
    fn slot_has_session(&self, provider: u32, slot: u32, weeks_ago: u32) -> bool {
        let role = self.providers[provider as usize].role;
        let interval = self.interval(role);
        let course = (ENCOUNTERS_PER_PATIENT - 1) * interval + 1;
        let n = self.patients_of(provider);
        (0..self.groups).any(|group| {
            let k = slot + group * SLOTS_PER_WEEK;
            if k >= n {
                return false;
            }
            let newest = self.newest_weeks_ago(provider, k, course);
            weeks_ago >= newest
                && weeks_ago < newest + course
                && (weeks_ago - newest).is_multiple_of(interval)
        })
    }

    /// Weeks ago of the newest session of the `k`-th patient of `provider`.
    fn newest_weeks_ago(&self, provider: u32, k: u32, course: u32) -> u32 {
        let group = k / SLOTS_PER_WEEK;
        let index = k * PROVIDERS_PER_ORG + provider;
        let mut rng = Prng::new(&[seed::ENCOUNTER, u64::from(self.position), u64::from(index)]);
        let room = self.band.saturating_sub(course) + 1;
        1 + group * self.band + rng.below(u64::from(room)) as u32
    }

    /// The calendar of provider `provider`: the booked history's missed and cancelled sessions,
    /// and every booked slot from this week on.
    pub fn calendar(&self, provider: u32) -> anyhow::Result<Vec<CalendarSlot>> {
        let plan = &self.providers[provider as usize];
        let n = self.patients_of(provider);
        let mut slots = Vec::new();
        if n == 0 {
            return Ok(slots);
        }
        let length = appointment_minutes(plan.role, false);
        for week in -(BOOKED_HISTORY_WEEKS as i64)..CALENDAR_WEEKS as i64 {
            // The week's booked slots: the provider's usual number, give or take two.
            let mut booked = Vec::new();
            if week >= 0 {
                let mut rng = Prng::new(&[
                    seed::CALENDAR,
                    u64::from(self.position),
                    u64::from(provider),
                    week as u64,
                ]);
                let usual = plan.full_per_week as i64 + rng.below(5) as i64 - 2;
                let count = (usual.clamp(15, 40) as f64 * plan.caseload_share).round() as usize;
                let mut free: Vec<u32> = (0..SLOTS_PER_WEEK).collect();
                for n in 0..count.min(free.len()) {
                    let pick = n + rng.below((free.len() - n) as u64) as usize;
                    free.swap(n, pick);
                }
                booked = free[..count.min(SLOTS_PER_WEEK as usize)].to_vec();
            }
            for slot in 0..SLOTS_PER_WEEK {
                let mut rng = Prng::new(&[
                    seed::CALENDAR,
                    u64::from(self.position),
                    u64::from(provider),
                    (week + 1000) as u64,
                    u64::from(slot),
                ]);
                let starts_at = self.slot_start(week, slot)?;
                let past = starts_at + Duration::minutes(length) < self.now;
                let status = if week < 0 {
                    // Booked history: sessions are the encounters' own appointments; here only
                    // the few that did not happen, in slots left free.
                    if self.slot_has_session(provider, slot, (-week) as u32) || !rng.chance(0.03) {
                        continue;
                    }
                    if rng.chance(0.6) {
                        CalendarStatus::NoShow
                    } else {
                        CalendarStatus::Cancelled
                    }
                } else {
                    if !booked.contains(&slot) {
                        continue;
                    }
                    let roll = rng.below(100);
                    match (past, roll) {
                        (_, 0..=3) => CalendarStatus::Cancelled,
                        (true, 4..=9) => CalendarStatus::NoShow,
                        (true, _) => CalendarStatus::Completed,
                        (false, _) => CalendarStatus::Scheduled,
                    }
                };
                // A patient of this provider who keeps this slot, or any of theirs when there
                // are fewer patients than slots.
                let keepers = (n.saturating_sub(slot)).div_ceil(SLOTS_PER_WEEK);
                let k = if keepers == 0 {
                    (slot + (week.rem_euclid(7) as u32) * 7) % n
                } else {
                    slot + SLOTS_PER_WEEK * rng.below(u64::from(keepers)) as u32
                };
                let index = ((week + BOOKED_HISTORY_WEEKS as i64) as u64
                    * u64::from(PROVIDERS_PER_ORG)
                    + u64::from(provider))
                    * u64::from(SLOTS_PER_WEEK)
                    + u64::from(slot);
                slots.push(CalendarSlot {
                    index,
                    provider,
                    patient: k * PROVIDERS_PER_ORG + provider,
                    week,
                    slot,
                    starts_at,
                    minutes: length,
                    status,
                    video: rng.chance(0.2),
                });
            }
        }
        Ok(slots)
    }

    /// The encounter index of a completed calendar session (after every course's sessions).
    pub fn calendar_encounter_index(&self, slot: &CalendarSlot) -> u64 {
        u64::from(self.patients) * u64::from(ENCOUNTERS_PER_PATIENT) + slot.index
    }
}

/// What became of a slot of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarStatus {
    Scheduled,
    /// Happened this week: an encounter and its note.
    Completed,
    NoShow,
    Cancelled,
}

impl CalendarStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Completed => "completed",
            Self::NoShow => "no_show",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One booked slot of a provider's calendar.
#[derive(Debug, Clone)]
pub struct CalendarSlot {
    /// Unique in the organization: the appointment's id index.
    pub index: u64,
    pub provider: u32,
    pub patient: u32,
    /// Weeks from this one (negative: past).
    pub week: i64,
    pub slot: u32,
    pub starts_at: OffsetDateTime,
    pub minutes: i64,
    pub status: CalendarStatus,
    pub video: bool,
}

/// A diagnosis on a patient's chart.
#[derive(Debug, Clone)]
pub struct DiagnosisPlan {
    pub id: Uuid,
    pub code: &'static str,
    /// `active` or `resolved`.
    pub status: &'static str,
    pub is_primary: bool,
    pub onset: Date,
    pub diagnosed_on: Date,
    pub resolved_on: Option<Date>,
}

/// A patient's coverage.
#[derive(Debug, Clone)]
pub struct CoveragePlan {
    pub id: Uuid,
    pub payer: usize,
    /// `primary` or `secondary`.
    pub priority: &'static str,
    pub member_id: String,
    pub group_number: String,
    /// For a minor: the parent who holds the policy.
    pub subscriber: Option<(&'static str, &'static str, Date)>,
    pub effective_from: Date,
}

/// One session of a patient.
#[derive(Debug, Clone)]
pub struct EncounterPlan {
    /// The encounter's (and its note's) index in the organization.
    pub index: u64,
    pub provider: u32,
    /// `intake`, `individual_therapy`, `family_therapy` or `medication_management`.
    pub encounter_type: &'static str,
    pub video: bool,
    /// When the booked slot starts.
    pub scheduled_start: OffsetDateTime,
    pub started_at: OffsetDateTime,
    pub ended_at: OffsetDateTime,
    pub service_date: Date,
    /// Whole weeks before this one (0: this week).
    pub weeks_ago: u32,
    /// The appointment it was booked as, when booked: its id and length in minutes.
    pub appointment: Option<(Uuid, i64)>,
    /// When the author signed, or `None` for a note still in draft.
    pub signed_at: Option<OffsetDateTime>,
    /// When the supervisor cosigned, for a supervised author who has been cosigned.
    pub cosigned_at: Option<OffsetDateTime>,
    pub cpt_code: &'static str,
}

impl EncounterPlan {
    pub fn minutes(&self) -> i64 {
        (self.ended_at - self.started_at).whole_minutes()
    }
}

/// A claim for one session.
#[derive(Debug, Clone)]
pub struct ClaimPlan {
    pub id: Uuid,
    pub encounter: usize,
    pub status: &'static str,
    pub created_at: OffsetDateTime,
    pub submitted_at: Option<OffsetDateTime>,
    pub adjudicated_at: Option<OffsetDateTime>,
    pub voided_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    /// "135.00"
    pub charge: &'static str,
    /// Paid by the payer and left to the patient, in cents, once paid.
    pub paid_cents: Option<(i64, i64)>,
}

/// One patient's chart.
#[derive(Debug, Clone)]
pub struct PatientPlan {
    pub index: u32,
    pub id: Uuid,
    pub provider: u32,
    pub mrn: String,
    pub first_name: &'static str,
    pub last_name: String,
    pub date_of_birth: Date,
    pub sex_at_birth: &'static str,
    pub pronouns: Option<&'static str>,
    pub email: String,
    pub phone: String,
    pub address_line1: String,
    /// `active`, `inactive` or `discharged` (with the day).
    pub status: &'static str,
    pub discharged_on: Option<Date>,
    pub created_at: OffsetDateTime,
    pub diagnoses: Vec<DiagnosisPlan>,
    pub coverages: Vec<CoveragePlan>,
    pub encounters: Vec<EncounterPlan>,
    pub claims: Vec<ClaimPlan>,
}

impl PatientPlan {
    fn new(org: &OrgScalePlan, index: u32) -> anyhow::Result<Self> {
        let position = org.position;
        let mut rng = Prng::new(&[seed::PATIENT, u64::from(position), u64::from(index)]);
        let provider = index % PROVIDERS_PER_ORG;
        let provider_plan = &org.providers[provider as usize];
        let k = index / PROVIDERS_PER_ORG;
        let first_name = *rng.pick(FIRST_NAMES);
        let last_name = if rng.chance(0.1) {
            format!("{}-{}", rng.pick(LAST_NAMES), rng.pick(LAST_NAMES))
        } else {
            (*rng.pick(LAST_NAMES)).to_owned()
        };
        let born = Date::from_calendar_date(1940, time::Month::January, 1)?
            + Duration::days(rng.below(80 * 365) as i64);
        let today = org.zone.local(org.now).date();
        let minor = born > today - Duration::days(18 * 365);
        let (sex_at_birth, pronouns) = match rng.below(100) {
            0..=48 => ("female", Some("she/her")),
            49..=95 => ("male", Some("he/him")),
            96..=97 => ("intersex", Some("they/them")),
            _ => ("unknown", None),
        };
        let id = org.id(IdKind::Patient, u64::from(index));

        // The course of sessions, oldest first.
        let interval = org.interval(provider_plan.role);
        let course = (ENCOUNTERS_PER_PATIENT - 1) * interval + 1;
        let newest = org.newest_weeks_ago(provider, k, course);
        let slot = k % SLOTS_PER_WEEK;
        let mut encounter_rng = Prng::new(&[seed::NOTE, u64::from(position), u64::from(index)]);
        let family = !provider_plan.role.prescriber && encounter_rng.chance(0.08);
        let video = encounter_rng.chance(0.2);
        let mut encounters = Vec::with_capacity(ENCOUNTERS_PER_PATIENT as usize);
        for n in 0..ENCOUNTERS_PER_PATIENT {
            let weeks_ago = newest + (ENCOUNTERS_PER_PATIENT - 1 - n) * interval;
            let week = -i64::from(weeks_ago);
            let scheduled_start = org.slot_start(week, slot)?;
            let index = u64::from(index) * u64::from(ENCOUNTERS_PER_PATIENT) + u64::from(n);
            let booked = weeks_ago <= BOOKED_HISTORY_WEEKS;
            encounters.push(encounter(
                org,
                provider_plan,
                index,
                n == 0,
                family,
                video,
                scheduled_start,
                org.slot_date(week, slot),
                weeks_ago,
                booked.then(|| org.id(IdKind::BookedAppointment, index)),
                &mut encounter_rng,
            )?);
        }
        let first_session = encounters[0].scheduled_start;
        let created_at = first_session - Duration::minutes(rng.below(14 * 24 * 60) as i64 + 60);

        // Diagnoses, made at intake.
        let diagnosed_on = encounters[0].service_date;
        let onset = diagnosed_on - Duration::days(rng.below(700) as i64 + 14);
        let primary = *rng.pick(PRIMARY_DIAGNOSES);
        let diagnosis_id = |n: u64| org.id(IdKind::Diagnosis, u64::from(index) * 4 + n);
        let mut diagnoses = vec![DiagnosisPlan {
            id: diagnosis_id(0),
            code: primary,
            status: "active",
            is_primary: true,
            onset,
            diagnosed_on,
            resolved_on: None,
        }];
        if rng.chance(0.35) {
            let code = *rng.pick(SECONDARY_DIAGNOSES);
            if code != primary {
                diagnoses.push(DiagnosisPlan {
                    id: diagnosis_id(1),
                    code,
                    status: "active",
                    is_primary: false,
                    onset,
                    diagnosed_on,
                    resolved_on: None,
                });
            }
        }
        if rng.chance(0.1) {
            let code = *rng.pick(RESOLVED_DIAGNOSES);
            let past_onset = onset - Duration::days(400);
            diagnoses.push(DiagnosisPlan {
                id: diagnosis_id(2),
                code,
                status: "resolved",
                is_primary: false,
                onset: past_onset,
                diagnosed_on: past_onset,
                resolved_on: Some(past_onset + Duration::days(90 + rng.below(120) as i64)),
            });
        }

        // Coverage: most are insured; minors under a parent's policy.
        let mut coverages = Vec::new();
        if rng.chance(0.85) {
            let payer = rng.below(PAYERS.len() as u64) as usize;
            let parent_first = *rng.pick(FIRST_NAMES);
            coverages.push(CoveragePlan {
                id: org.id(IdKind::Coverage, u64::from(index) * 2),
                payer,
                priority: "primary",
                member_id: format!("M{position:03}{:07}", 1_000_000 + index * 37),
                group_number: format!("G{:05}", 10_000 + position * 10 + payer as u32),
                subscriber: minor.then(|| {
                    (
                        parent_first,
                        LAST_NAMES[index as usize % LAST_NAMES.len()],
                        born - Duration::days(365 * 28 + rng.below(3650) as i64),
                    )
                }),
                effective_from: diagnosed_on - Duration::days(rng.below(700) as i64 + 30),
            });
            if rng.chance(0.05) {
                let second = (payer + 1) % PAYERS.len();
                coverages.push(CoveragePlan {
                    id: org.id(IdKind::Coverage, u64::from(index) * 2 + 1),
                    payer: second,
                    priority: "secondary",
                    member_id: format!("S{position:03}{:07}", 2_000_000 + index * 41),
                    group_number: format!("G{:05}", 20_000 + position),
                    subscriber: None,
                    effective_from: diagnosed_on - Duration::days(200),
                });
            }
        }

        // The newest sessions of insured patients are billed.
        let mut claims = Vec::new();
        if !coverages.is_empty() {
            let mut claim_rng = Prng::new(&[seed::CLAIM, u64::from(position), u64::from(index)]);
            for (n, session) in encounters.iter().enumerate() {
                if session.weeks_ago > CLAIM_WEEKS {
                    continue;
                }
                claims.push(claim(org, session, n, provider_plan, &mut claim_rng));
            }
        }

        let (status, discharged_on) = match rng.below(100) {
            0..=2 if newest > 4 => (
                "discharged",
                Some(encounters[encounters.len() - 1].service_date + Duration::days(7)),
            ),
            3..=9 => ("inactive", None),
            _ => ("active", None),
        };
        let mrn = format!("S{position:03}-{:06}", index + 1);
        Ok(Self {
            index,
            id,
            provider,
            mrn,
            first_name,
            email: format!(
                "{}.{}{}@mail.example",
                first_name.to_lowercase(),
                last_name.to_lowercase(),
                index
            ),
            last_name,
            date_of_birth: born,
            sex_at_birth,
            pronouns,
            phone: format!("555-{:04}", rng.below(10_000)),
            address_line1: format!("{} {} Street", 10 + rng.below(990), rng.pick(STREETS)),
            status,
            discharged_on,
            created_at,
            diagnoses,
            coverages,
            encounters,
            claims,
        })
    }

    /// The diagnoses a claim carries: the active ones, primary first.
    pub fn billed_diagnoses(&self) -> impl Iterator<Item = &DiagnosisPlan> {
        self.diagnoses.iter().filter(|d| d.status == "active")
    }
}

const STREETS: &[&str] = &[
    "Elm",
    "Maple",
    "Cedar",
    "Willow",
    "Birch",
    "Lakeview",
    "Orchard",
    "Hillcrest",
    "River",
    "Sycamore",
];

/// Minutes an appointment of `role` is booked for.
fn appointment_minutes(role: &ClinicianRole, intake: bool) -> i64 {
    match (role.prescriber, intake) {
        (true, false) => 30,
        _ => 53,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one session's facts, named at the call"
)]
fn encounter(
    org: &OrgScalePlan,
    provider: &ProviderPlan,
    index: u64,
    intake: bool,
    family: bool,
    video: bool,
    scheduled_start: OffsetDateTime,
    service_date: Date,
    weeks_ago: u32,
    appointment: Option<Uuid>,
    rng: &mut Prng,
) -> anyhow::Result<EncounterPlan> {
    let role = provider.role;
    let (encounter_type, minutes, cpt_code) = match (role.prescriber, intake) {
        (true, true) => ("intake", 50 + rng.below(9) as i64, "90792"),
        (false, true) => ("intake", 50 + rng.below(9) as i64, "90791"),
        (true, false) => {
            let minutes = 20 + rng.below(16) as i64;
            let code = if minutes >= 30 { "99214" } else { "99213" };
            ("medication_management", minutes, code)
        }
        (false, false) if family => ("family_therapy", 45 + rng.below(10) as i64, "90847"),
        (false, false) => {
            let minutes = 38 + rng.below(21) as i64;
            let code = if minutes >= 53 { "90837" } else { "90834" };
            ("individual_therapy", minutes, code)
        }
    };
    let started_at = scheduled_start + Duration::minutes(rng.below(6) as i64);
    let ended_at = started_at + Duration::minutes(minutes);
    // Notes are signed within hours; a few of the newest are still drafts.
    let draft = match weeks_ago {
        0 => rng.chance(0.25),
        1 => rng.chance(0.2),
        2 => rng.chance(0.03),
        _ => false,
    };
    let signed_at = (ended_at + Duration::minutes(10 + rng.below(600) as i64))
        .replace_second(rng.below(60) as u8)?;
    let signed_at = (!draft && signed_at < org.now).then_some(signed_at);
    let cosigned_at = match (provider.supervisor, signed_at) {
        (Some(_), Some(at)) => {
            // Supervisors cosign within half a day to six days.
            let at = at + Duration::minutes(12 * 60 + rng.below(132 * 60) as i64);
            (at < org.now).then_some(at)
        }
        _ => None,
    };
    Ok(EncounterPlan {
        index,
        provider: provider.index,
        encounter_type,
        video,
        scheduled_start,
        started_at,
        ended_at,
        service_date,
        weeks_ago,
        appointment: appointment.map(|id| (id, appointment_minutes(role, intake))),
        signed_at,
        cosigned_at,
        cpt_code,
    })
}

/// A completed session of this week's calendar, its encounter and its note.
pub fn calendar_encounter(
    org: &OrgScalePlan,
    slot: &CalendarSlot,
) -> anyhow::Result<EncounterPlan> {
    let provider = &org.providers[slot.provider as usize];
    let index = org.calendar_encounter_index(slot);
    let mut rng = Prng::new(&[seed::NOTE, u64::from(org.position), 1 << 40 | index]);
    encounter(
        org,
        provider,
        index,
        false,
        false,
        slot.video,
        slot.starts_at,
        org.slot_date(slot.week, slot.slot),
        0,
        Some(org.id(IdKind::CalendarAppointment, slot.index)),
        &mut rng,
    )
}

fn claim(
    org: &OrgScalePlan,
    session: &EncounterPlan,
    n: usize,
    provider: &ProviderPlan,
    rng: &mut Prng,
) -> ClaimPlan {
    let documented = session.signed_at.is_some()
        && (provider.supervisor.is_none() || session.cosigned_at.is_some());
    let roll = rng.below(100);
    let status = match (documented, session.weeks_ago) {
        (false, _) => "draft",
        (true, 0..=1) if roll < 35 => "draft",
        (true, 0..=1) => "ready",
        (true, 2..=3) if roll < 8 => "draft",
        (true, 2..=3) if roll < 25 => "ready",
        (true, 2..=3) => "submitted",
        (true, 4..=6) if roll < 45 => "submitted",
        (true, 4..=6) if roll < 75 => "accepted",
        (true, 4..=6) if roll < 78 => "rejected",
        (true, 4..=6) => "paid",
        (true, _) if roll < 82 => "paid",
        (true, _) if roll < 92 => "denied",
        (true, _) if roll < 97 => "appealed",
        (true, _) if roll < 99 => "accepted",
        (true, _) => "voided",
    };
    let documented_at = session
        .cosigned_at
        .or(session.signed_at)
        .unwrap_or(session.ended_at);
    let latest = org.now - Duration::minutes(5);
    let created_at = (documented_at + Duration::hours(2 + rng.below(40) as i64)).min(latest);
    let sent = !matches!(status, "draft" | "ready");
    let submitted_at = sent.then(|| (created_at + Duration::hours(24)).min(latest));
    let decided = matches!(
        status,
        "accepted" | "rejected" | "denied" | "paid" | "appealed"
    );
    let adjudicated_at = submitted_at
        .filter(|_| decided)
        .map(|at| (at + Duration::days(10 + rng.below(8) as i64)).min(latest));
    let voided_at = (status == "voided")
        .then(|| (submitted_at.unwrap_or(created_at) + Duration::days(3)).min(latest));
    let charge = charge_of(session.cpt_code);
    let paid_cents = (status == "paid").then(|| {
        let cents = cents_of(charge);
        let copay = 2_500.min(cents);
        ((cents - copay) * 80 / 100, copay)
    });
    let updated_at = [Some(created_at), submitted_at, adjudicated_at, voided_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(created_at);
    ClaimPlan {
        id: org.id(IdKind::Claim, session.index),
        encounter: n,
        status,
        created_at,
        submitted_at,
        adjudicated_at,
        voided_at,
        updated_at,
        charge,
        paid_cents,
    }
}

/// What the practice charges for `cpt` (the demo's fee schedule).
pub fn charge_of(cpt: &str) -> &'static str {
    super::super::billing::FEE_SCHEDULE
        .iter()
        .find(|(code, _)| *code == cpt)
        .map_or("120.00", |(_, charge)| charge)
}

/// `amount` ("135.00") in cents.
pub fn cents_of(amount: &str) -> i64 {
    let (whole, cents) = amount.split_once('.').unwrap_or((amount, "0"));
    whole.parse::<i64>().unwrap_or(0) * 100 + cents.parse::<i64>().unwrap_or(0)
}

/// `cents` as an amount, "108.00".
pub fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-25 15:30 UTC)
    }

    #[test]
    fn ids_are_distinct_per_org_kind_and_index_and_sort_by_index() {
        let a = scale_id(1, IdKind::Patient, 1);
        assert_ne!(a, scale_id(2, IdKind::Patient, 1));
        assert_ne!(a, scale_id(1, IdKind::Encounter, 1));
        assert_ne!(a, scale_id(1, IdKind::Patient, 2));
        assert!(scale_id(1, IdKind::Patient, 9) < scale_id(1, IdKind::Patient, 10));
        assert!(scale_id(1, IdKind::Patient, 255) < scale_id(1, IdKind::Patient, 256));
        assert_eq!(a.get_version_num(), 8);
    }

    #[test]
    fn no_provider_is_booked_twice_in_a_week() {
        let org = OrgScalePlan::new(3, 2_000, now()).unwrap();
        let mut taken = std::collections::HashSet::new();
        for index in 0..org.patients {
            let patient = org.patient(index).unwrap();
            for e in &patient.encounters {
                assert!(
                    taken.insert((e.provider, e.scheduled_start)),
                    "patient {index} double-booked at {}",
                    e.scheduled_start
                );
                assert!(e.weeks_ago >= 1 && e.weeks_ago <= HISTORY_WEEKS);
                assert!(e.ended_at < org.now);
            }
        }
        for provider in 0..PROVIDERS_PER_ORG {
            for slot in org.calendar(provider).unwrap() {
                if slot.status != CalendarStatus::Cancelled {
                    assert!(
                        taken.insert((slot.provider, slot.starts_at)),
                        "calendar slot of provider {provider} at {} is taken",
                        slot.starts_at
                    );
                }
            }
        }
    }

    #[test]
    fn the_week_ahead_holds_fifteen_to_forty_appointments_per_provider() {
        let org = OrgScalePlan::new(1, 5_000, now()).unwrap();
        for provider in 0..PROVIDERS_PER_ORG {
            let next_week = org
                .calendar(provider)
                .unwrap()
                .into_iter()
                .filter(|s| s.week == 1)
                .count();
            assert!(
                (10..=45).contains(&next_week),
                "provider {provider}: {next_week}"
            );
        }
    }

    #[test]
    fn claims_ready_or_later_bill_documented_sessions_only() {
        let org = OrgScalePlan::new(2, 3_000, now()).unwrap();
        let mut statuses = std::collections::BTreeMap::new();
        for index in 0..org.patients {
            let patient = org.patient(index).unwrap();
            for claim in &patient.claims {
                *statuses.entry(claim.status).or_insert(0) += 1;
                let session = &patient.encounters[claim.encounter];
                let supervised = org.providers[patient.provider as usize]
                    .supervisor
                    .is_some();
                if claim.status != "draft" {
                    assert!(session.signed_at.is_some());
                    assert!(!supervised || session.cosigned_at.is_some());
                }
                assert!(claim.created_at <= org.now && claim.updated_at <= org.now);
            }
        }
        for status in [
            "draft",
            "ready",
            "submitted",
            "accepted",
            "paid",
            "denied",
            "appealed",
        ] {
            assert!(
                statuses.get(status).copied().unwrap_or(0) > 0,
                "{statuses:?}"
            );
        }
        assert!(statuses["paid"] + statuses["submitted"] > statuses["draft"] + statuses["ready"]);
    }

    #[test]
    fn the_same_week_gives_the_same_patients() {
        let a = OrgScalePlan::new(5, 500, now()).unwrap();
        let b = OrgScalePlan::new(5, 500, now() + Duration::hours(1)).unwrap();
        let pa = a.patient(123).unwrap();
        let pb = b.patient(123).unwrap();
        assert_eq!(
            (pa.first_name, &pa.last_name, pa.date_of_birth),
            (pb.first_name, &pb.last_name, pb.date_of_birth)
        );
        assert_eq!(pa.encounters[0].started_at, pb.encounters[0].started_at);
    }
}
