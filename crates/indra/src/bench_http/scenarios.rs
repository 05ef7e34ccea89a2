//! The scenarios: what each client does, over HTTP, against the running server, and how a
//! scenario's clients are run and measured.
//!
//! Every client is a tokio task with its own HTTP connection, signed in as its own user (when
//! there are fewer users of the role than clients, users are shared and the report says how
//! many there were). All clients sign in first (not measured, except in the sign-in scenario);
//! then the clock starts: a warm-up whose operations are not measured, then the measured window.
//! An operation started before the end of the window is allowed to finish. Errors (any answer
//! but 2xx, or no answer) are counted from the start of the warm-up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use time::Date;
use uuid::Uuid;

use super::client::{Client, Failure};
use super::machine::RssSampler;
use super::population::Member;
use super::stats::LatencySummary;
use crate::bench::SplitMix64;

/// Claims in one 837P export.
pub const EXPORT_CLAIMS: usize = 100;
/// How often a client asks whether its assistant run has settled.
const RUN_POLL: Duration = Duration::from_millis(20);
/// A run not settled after this long failed.
const RUN_PATIENCE: Duration = Duration::from_secs(60);
/// A client pauses this long after a failed operation, so a broken endpoint is not hammered.
const AFTER_FAILURE: Duration = Duration::from_millis(100);

/// One scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    SignIn,
    Search,
    Chart,
    Week,
    Note,
    Book,
    Claims,
    Export,
    Assistant,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::SignIn,
        Kind::Search,
        Kind::Chart,
        Kind::Week,
        Kind::Note,
        Kind::Book,
        Kind::Claims,
        Kind::Export,
        Kind::Assistant,
    ];

    /// The name `--scenarios` takes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::SignIn => "sign-in",
            Kind::Search => "search",
            Kind::Chart => "chart",
            Kind::Week => "week",
            Kind::Note => "note",
            Kind::Book => "book",
            Kind::Claims => "claims",
            Kind::Export => "export",
            Kind::Assistant => "assistant",
        }
    }

    /// What the scenario does, in the clinic's words.
    pub fn title(self) -> &'static str {
        match self {
            Kind::SignIn => "sign in (POST /auth/token)",
            Kind::Search => "patient search, misspelled last name",
            Kind::Chart => "open a chart",
            Kind::Week => "a provider's week",
            Kind::Note => "write a note",
            Kind::Book => "book an appointment",
            Kind::Claims => "claims by status (billing)",
            Kind::Export => "export 100 claims to 837P (billing)",
            Kind::Assistant => "assistant run (rules model)",
        }
    }

    /// Read scenarios are compared with pgbench, and an error in one fails the run.
    pub fn is_read(self) -> bool {
        matches!(self, Kind::Search | Kind::Chart | Kind::Week | Kind::Claims)
    }

    /// What is timed, in order: the first is the scenario's own figure, the rest its parts.
    pub fn measures(self) -> &'static [&'static str] {
        match self {
            Kind::Note => &[
                "create + edit + sign",
                "create (POST /encounters/{id}/notes)",
                "edit (PATCH /notes/{id})",
                "sign (POST /notes/{id}/sign)",
            ],
            Kind::Assistant => &[
                "request to ready_to_commit (POST /ai/runs, then polling)",
                "review and commit (accept each action, POST /ai/runs/{id}/commit)",
            ],
            Kind::Export => &["POST /claims/exports with 100 claim ids"],
            _ => &["request"],
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// `--scenarios a,b`: known names, each once, in the order given.
pub fn parse_scenarios(text: &str) -> Result<Vec<Kind>, String> {
    let mut kinds = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = Kind::parse(name).ok_or_else(|| {
            format!(
                "unknown scenario {name:?}; the scenarios are {}",
                Kind::ALL.map(Kind::name).join(", ")
            )
        })?;
        if kinds.contains(&kind) {
            return Err(format!("scenario {name:?} is named twice"));
        }
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err("name at least one scenario".into());
    }
    Ok(kinds)
}

/// Appointment times handed out to booking clients: each a different half hour, after every
/// appointment the database held when the run began, so no two bookings collide.
#[derive(Debug)]
pub struct Slots {
    pub first_unix: i64,
    next: AtomicU64,
}

impl Slots {
    pub fn after(first_unix: i64) -> Self {
        Self {
            first_unix,
            next: AtomicU64::new(0),
        }
    }

    /// The next slot's start and end, as RFC 3339 UTC times (25 minutes in a half hour).
    pub fn take(&self) -> (String, String) {
        let k = self.next.fetch_add(1, Ordering::Relaxed) as i64;
        let start = self.first_unix + k * 1800;
        (rfc3339(start), rfc3339(start + 1500))
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `YYYY-MM-DD`.
pub fn iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A query-string value, percent-encoded (letters, digits and `-._~` as they are).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Organizations whose ready claims an export client may take, each to one client at a time.
pub type ExportQueue = Arc<Mutex<VecDeque<(Uuid, String)>>>;

/// What a client's requests name.
#[derive(Debug, Clone)]
pub enum Input {
    SignIn,
    Search {
        queries: Arc<Vec<String>>,
    },
    Chart {
        patients: Arc<Vec<Uuid>>,
    },
    Week {
        provider: Uuid,
        mondays: Arc<Vec<Date>>,
    },
    Note {
        provider: Uuid,
        patients: Arc<Vec<Uuid>>,
    },
    Book {
        patients: Arc<Vec<Uuid>>,
        providers: Arc<Vec<Uuid>>,
        slots: Arc<Slots>,
    },
    Claims {
        statuses: Arc<Vec<String>>,
    },
    /// The organizations to export from; the client signs in as each one's biller in turn.
    Export {
        queue: ExportQueue,
    },
    /// Patients, each with whether the session can be billed (active primary coverage).
    Assistant {
        patients: Arc<Vec<(Uuid, bool)>>,
    },
}

/// One client of a scenario.
#[derive(Debug, Clone)]
pub struct ClientWork {
    pub member: Member,
    pub input: Input,
}

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    pub kind: Kind,
    pub clients: Vec<ClientWork>,
    /// What the report should say about how it was run (a lower concurrency, shared users).
    pub notes: Vec<String>,
}

/// A distinct error message and how often it happened.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorSample {
    pub message: String,
    pub count: u64,
}

/// One timed quantity of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    pub name: &'static str,
    pub latency: Option<LatencySummary>,
}

/// What a scenario came to, or why it did not run.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: Kind,
    pub title: &'static str,
    pub read: bool,
    /// `ran` or `not run`.
    pub status: &'static str,
    /// Why it did not run.
    pub reason: Option<String>,
    pub notes: Vec<String>,
    pub clients: usize,
    pub distinct_users: usize,
    pub organizations: usize,
    pub warm_up_seconds: f64,
    /// The measured window: from the end of the warm-up to the last measured operation's end.
    pub seconds: f64,
    /// Operations completed in the measured window.
    pub operations: u64,
    /// HTTP requests sent in all (warm-up, preparation and polling included).
    pub requests: u64,
    /// Failed operations, warm-up included.
    pub errors: u64,
    pub error_samples: Vec<ErrorSample>,
    /// The first is the scenario's figure (`operations` per second, latency per operation).
    pub measures: Vec<Measure>,
    /// The server's highest resident memory during the scenario, when sampled.
    pub server_rss_max_mib: Option<f64>,
}

impl ScenarioResult {
    pub fn not_run(kind: Kind, reason: String) -> Self {
        Self {
            scenario: kind,
            title: kind.title(),
            read: kind.is_read(),
            status: "not run",
            reason: Some(reason),
            notes: Vec::new(),
            clients: 0,
            distinct_users: 0,
            organizations: 0,
            warm_up_seconds: 0.0,
            seconds: 0.0,
            operations: 0,
            requests: 0,
            errors: 0,
            error_samples: Vec::new(),
            measures: Vec::new(),
            server_rss_max_mib: None,
        }
    }

    pub fn ran(&self) -> bool {
        self.status == "ran"
    }

    /// The scenario's own latency (per operation).
    pub fn latency(&self) -> Option<&LatencySummary> {
        self.measures.first().and_then(|m| m.latency.as_ref())
    }

    /// Operations per second in the measured window.
    pub fn per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.operations as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// What one operation came to.
enum Outcome {
    /// Timings, one per measure of the scenario.
    Done(Vec<Duration>),
    Failed(Failure),
    /// Nothing left to do (no more ready claims): the client stops, which is not an error.
    Exhausted(String),
}

/// A client while it runs.
struct ClientState {
    client: Client,
    member: Member,
    input: Input,
    rng: SplitMix64,
    /// The export client's current organization and its ready claims left.
    exporting: Option<Uuid>,
}

/// What one client did.
struct ClientTally {
    timings: Vec<Vec<Duration>>,
    operations: u64,
    requests: u64,
    errors: Vec<String>,
    last_end: Option<Instant>,
    exhausted: Option<String>,
}

/// Runs a scenario: all clients sign in, then `warm_up` unmeasured, then `duration` measured.
pub async fn run(
    plan: &ScenarioPlan,
    url: &str,
    password: &str,
    warm_up: Duration,
    duration: Duration,
    rss: Option<&RssSampler>,
) -> ScenarioResult {
    let kind = plan.kind;
    let mut result = ScenarioResult::not_run(kind, String::new());
    result.status = "ran";
    result.reason = None;
    result.notes = plan.notes.clone();
    result.clients = plan.clients.len();
    result.distinct_users = {
        let mut users: Vec<Uuid> = plan.clients.iter().map(|c| c.member.user_id).collect();
        users.sort_unstable();
        users.dedup();
        users.len()
    };
    result.organizations = {
        let mut orgs: Vec<Uuid> = plan.clients.iter().map(|c| c.member.org_id).collect();
        orgs.sort_unstable();
        orgs.dedup();
        orgs.len()
    };
    result.warm_up_seconds = warm_up.as_secs_f64();

    // Everyone signs in before the clock starts.
    let mut setups = Vec::new();
    for (i, work) in plan.clients.iter().cloned().enumerate() {
        let url = url.to_owned();
        let password = password.to_owned();
        setups.push(tokio::spawn(async move {
            let mut client = Client::new(&url).map_err(|e| Failure(e.to_string()))?;
            if !matches!(work.input, Input::SignIn | Input::Export { .. }) {
                client.sign_in(&work.member.email, &password).await?;
            }
            Ok::<_, Failure>(ClientState {
                client,
                member: work.member,
                input: work.input,
                rng: SplitMix64(0xb3c4_0000 + i as u64),
                exporting: None,
            })
        }));
    }
    let mut states = Vec::new();
    let mut setup_errors = Vec::new();
    for setup in setups {
        match setup.await {
            Ok(Ok(state)) => states.push(state),
            Ok(Err(failure)) => setup_errors.push(format!("signing in: {failure}")),
            Err(e) => setup_errors.push(format!("a client task failed: {e}")),
        }
    }
    if let Some(rss) = rss {
        rss.take_window();
    }

    let start = Instant::now();
    let measure_from = start + warm_up;
    let deadline = measure_from + duration;
    let measures = kind.measures().len();
    let mut tasks = Vec::new();
    for mut state in states {
        let password = password.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut tally = ClientTally {
                timings: vec![Vec::new(); measures],
                operations: 0,
                requests: 0,
                errors: Vec::new(),
                last_end: None,
                exhausted: None,
            };
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                match operate(kind, &mut state, &password).await {
                    Outcome::Done(timings) => {
                        if began >= measure_from {
                            for (slot, t) in tally.timings.iter_mut().zip(timings) {
                                slot.push(t);
                            }
                            tally.operations += 1;
                            tally.last_end = Some(Instant::now());
                        }
                    }
                    Outcome::Failed(failure) => {
                        tally.errors.push(failure.0);
                        tokio::time::sleep(AFTER_FAILURE).await;
                    }
                    Outcome::Exhausted(why) => {
                        tally.exhausted = Some(why);
                        break;
                    }
                }
            }
            tally.requests = state.client.requests;
            tally
        }));
    }

    let mut timings: Vec<Vec<Duration>> = vec![Vec::new(); measures];
    let mut errors = setup_errors;
    let mut end = measure_from;
    let mut exhausted = Vec::new();
    for task in tasks {
        match task.await {
            Ok(tally) => {
                for (all, mine) in timings.iter_mut().zip(tally.timings) {
                    all.extend(mine);
                }
                result.operations += tally.operations;
                result.requests += tally.requests;
                errors.extend(tally.errors);
                if let Some(last) = tally.last_end {
                    end = end.max(last);
                }
                exhausted.extend(tally.exhausted);
            }
            Err(e) => errors.push(format!("a client task failed: {e}")),
        }
    }
    result.seconds = if result.operations > 0 {
        (end - measure_from).as_secs_f64()
    } else {
        duration.as_secs_f64()
    };
    result.errors = errors.len() as u64;
    result.error_samples = error_samples(&errors);
    result.measures = kind
        .measures()
        .iter()
        .zip(timings)
        .map(|(name, t)| Measure {
            name,
            latency: LatencySummary::of(t, result.seconds),
        })
        .collect();
    if !exhausted.is_empty() {
        exhausted.sort();
        exhausted.dedup();
        result
            .notes
            .push(format!("clients stopped early: {}", exhausted.join("; ")));
    }
    result.server_rss_max_mib = rss.map(RssSampler::take_window);
    result
}

/// The five most frequent error messages.
fn error_samples(errors: &[String]) -> Vec<ErrorSample> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for e in errors {
        *counts.entry(e.as_str()).or_default() += 1;
    }
    let mut samples: Vec<ErrorSample> = counts
        .into_iter()
        .map(|(message, count)| ErrorSample {
            message: message.to_owned(),
            count,
        })
        .collect();
    samples.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
    samples.truncate(5);
    samples
}

fn pick<'a, T>(items: &'a [T], rng: &mut SplitMix64) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.below(items.len())])
}

fn nothing(what: &str) -> Outcome {
    Outcome::Failed(Failure(format!("no {what} to ask for")))
}

async fn operate(kind: Kind, state: &mut ClientState, password: &str) -> Outcome {
    let began = Instant::now();
    let input = state.input.clone();
    let result = match (kind, &input) {
        (Kind::SignIn, _) => {
            let email = state.member.email.clone();
            state.client.sign_in(&email, password).await.map(|()| None)
        }
        (Kind::Search, Input::Search { queries }) => {
            let Some(q) = pick(queries, &mut state.rng) else {
                return nothing("names");
            };
            let path = format!("/api/v1/patients?q={}", encode_query(q));
            state
                .client
                .get(&path, "GET /api/v1/patients?q=")
                .await
                .map(|_| None)
        }
        (Kind::Chart, Input::Chart { patients }) => {
            let Some(id) = pick(patients, &mut state.rng) else {
                return nothing("patients");
            };
            state
                .client
                .get(
                    &format!("/api/v1/patients/{id}/chart"),
                    "GET /api/v1/patients/{id}/chart",
                )
                .await
                .map(|_| None)
        }
        (Kind::Week, Input::Week { provider, mondays }) => {
            let Some(monday) = pick(mondays, &mut state.rng) else {
                return nothing("weeks");
            };
            let path = format!(
                "/api/v1/providers/{provider}/calendar?from={}&days=7",
                iso_date(*monday)
            );
            state
                .client
                .get(&path, "GET /api/v1/providers/{id}/calendar?days=7")
                .await
                .map(|_| None)
        }
        (Kind::Claims, Input::Claims { statuses }) => {
            let Some(status) = pick(statuses, &mut state.rng) else {
                return nothing("claim statuses");
            };
            state
                .client
                .get(
                    &format!("/api/v1/claims?status={status}"),
                    "GET /api/v1/claims?status=",
                )
                .await
                .map(|_| None)
        }
        (
            Kind::Book,
            Input::Book {
                patients,
                providers,
                slots,
            },
        ) => {
            let (Some(patient), Some(provider)) = (
                pick(patients, &mut state.rng).copied(),
                pick(providers, &mut state.rng).copied(),
            ) else {
                return nothing("patients or providers");
            };
            let (starts_at, ends_at) = slots.take();
            let body = json!({
                "patient_id": patient,
                "provider_id": provider,
                "appointment_type": "individual_therapy",
                "modality": "in_person",
                "starts_at": starts_at,
                "ends_at": ends_at,
                "location": "Office 2",
            });
            state
                .client
                .call(
                    Method::POST,
                    "/api/v1/appointments",
                    "POST /api/v1/appointments",
                    Some(&body),
                    None,
                )
                .await
                .map(|_| None)
        }
        (Kind::Note, Input::Note { provider, patients }) => {
            let Some(patient) = pick(patients, &mut state.rng).copied() else {
                return nothing("patients");
            };
            return write_note(&mut state.client, *provider, patient).await;
        }
        (Kind::Export, Input::Export { queue }) => {
            return export(state, queue, password).await;
        }
        (Kind::Assistant, Input::Assistant { patients }) => {
            let Some((patient, insured)) = pick(patients, &mut state.rng).copied() else {
                return nothing("patients");
            };
            return assistant_run(&mut state.client, patient, insured).await;
        }
        _ => Err(Failure(format!("{kind:?} was given the wrong inputs"))),
    };
    match result {
        Ok(None) => Outcome::Done(vec![began.elapsed()]),
        Ok(Some(timings)) => Outcome::Done(timings),
        Err(failure) => Outcome::Failed(failure),
    }
}

/// A session's note: an encounter opened for the clinician's patient (not timed: it is the
/// session starting), then the note created, edited and signed, each with the version it read.
async fn write_note(client: &mut Client, provider: Uuid, patient: Uuid) -> Outcome {
    let encounter = match client
        .call(
            Method::POST,
            "/api/v1/encounters",
            "POST /api/v1/encounters",
            Some(&json!({
                "patient_id": patient,
                "provider_id": provider,
                "encounter_type": "individual_therapy",
                "modality": "in_person",
            })),
            None,
        )
        .await
    {
        Ok(answer) => answer.body["id"].as_str().unwrap_or_default().to_owned(),
        Err(failure) => return Outcome::Failed(failure),
    };
    let began = Instant::now();
    let created = match client
        .call(
            Method::POST,
            &format!("/api/v1/encounters/{encounter}/notes"),
            "POST /api/v1/encounters/{id}/notes",
            Some(&json!({
                "format": "SOAP",
                "content": {
                    "subjective": "Client reports sleeping better and less worry at work.",
                    "objective": "Calm, engaged, good eye contact.",
                    "assessment": "Generalized anxiety improving.",
                    "plan": "Continue CBT weekly.",
                },
            })),
            None,
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) => return Outcome::Failed(failure),
    };
    let create = began.elapsed();
    let note = created.body["id"].as_str().unwrap_or_default().to_owned();
    let edit_began = Instant::now();
    let edited = match client
        .call(
            Method::PATCH,
            &format!("/api/v1/notes/{note}"),
            "PATCH /api/v1/notes/{id}",
            Some(&json!({
                "content": {
                    "subjective": "Client reports sleeping better and less worry at work; one panic episode.",
                    "objective": "Calm, engaged, good eye contact.",
                    "assessment": "Generalized anxiety improving.",
                    "plan": "Continue CBT weekly; practise breathing exercise daily.",
                },
            })),
            created.etag.as_deref(),
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) => return Outcome::Failed(failure),
    };
    let edit = edit_began.elapsed();
    let sign_began = Instant::now();
    if let Err(failure) = client
        .call(
            Method::POST,
            &format!("/api/v1/notes/{note}/sign"),
            "POST /api/v1/notes/{id}/sign",
            None,
            edited.etag.as_deref(),
        )
        .await
    {
        return Outcome::Failed(failure);
    }
    let sign = sign_began.elapsed();
    Outcome::Done(vec![began.elapsed(), create, edit, sign])
}

/// One 837P of 100 ready claims: the biller lists 100 ready claims (not timed), then exports
/// exactly those. When the organization has fewer than 100 left, the client moves to the next
/// organization in the queue (signing in as its biller); when none is left, it stops.
async fn export(state: &mut ClientState, queue: &ExportQueue, password: &str) -> Outcome {
    loop {
        let org = match state.exporting {
            Some(org) => org,
            None => {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some((org, biller)) = next else {
                    return Outcome::Exhausted(format!(
                        "no organization has {EXPORT_CLAIMS} ready claims left"
                    ));
                };
                if let Err(failure) = state.client.sign_in(&biller, password).await {
                    return Outcome::Failed(failure);
                }
                state.exporting = Some(org);
                org
            }
        };
        let listed = match state
            .client
            .get(
                &format!("/api/v1/claims?status=ready&limit={EXPORT_CLAIMS}"),
                "GET /api/v1/claims?status=ready",
            )
            .await
        {
            Ok(answer) => answer,
            Err(failure) => return Outcome::Failed(failure),
        };
        let ids: Vec<Value> = listed.body["items"]
            .as_array()
            .map(|items| items.iter().map(|c| c["id"].clone()).collect())
            .unwrap_or_default();
        if ids.len() < EXPORT_CLAIMS {
            let _ = org;
            state.exporting = None;
            continue;
        }
        let began = Instant::now();
        return match state
            .client
            .call(
                Method::POST,
                "/api/v1/claims/exports",
                "POST /api/v1/claims/exports",
                Some(&json!({ "claim_ids": ids })),
                None,
            )
            .await
        {
            Ok(answer) if answer.bytes > 0 => Outcome::Done(vec![began.elapsed()]),
            Ok(_) => Outcome::Failed(Failure("POST /api/v1/claims/exports: an empty file".into())),
            Err(failure) => Outcome::Failed(failure),
        };
    }
}

/// A dictation from the patient's chart (it names nobody, so it is about that patient), run
/// by the server's worker with the practice's model; timed from the request until the run is
/// ready to commit (polling), then every proposal accepted (the billing one rejected for a
/// patient without coverage, as a clinician would: it cannot become a claim) and the run
/// committed.
async fn assistant_run(client: &mut Client, patient: Uuid, insured: bool) -> Outcome {
    let began = Instant::now();
    let text = "Individual session today, 50 minutes. Client reports sleeping better and less \
                worry at work. Practised thought records. Plan: continue CBT weekly.";
    let created = match client
        .call(
            Method::POST,
            "/api/v1/ai/runs",
            "POST /api/v1/ai/runs",
            Some(&json!({"input_text": text, "patient_id": patient})),
            None,
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) => return Outcome::Failed(failure),
    };
    let run = created.body["id"].as_str().unwrap_or_default().to_owned();
    let mut answered = false;
    let view = loop {
        if began.elapsed() > RUN_PATIENCE {
            return Outcome::Failed(Failure(format!(
                "GET /api/v1/ai/runs/{{id}}: not settled after {} s",
                RUN_PATIENCE.as_secs()
            )));
        }
        let answer = match client
            .get(
                &format!("/api/v1/ai/runs/{run}"),
                "GET /api/v1/ai/runs/{id}",
            )
            .await
        {
            Ok(answer) => answer,
            Err(failure) => return Outcome::Failed(failure),
        };
        match answer.body["status"].as_str().unwrap_or_default() {
            "pending" | "running" => tokio::time::sleep(RUN_POLL).await,
            "ready_to_commit" => break answer.body,
            "needs_clarification" if !answered => {
                // Answer with the first option offered, once, as a clinician would pick.
                let option = answer.body["clarification"]["options"][0]["id"].clone();
                if let Err(failure) = client
                    .call(
                        Method::POST,
                        &format!("/api/v1/ai/runs/{run}/clarification"),
                        "POST /api/v1/ai/runs/{id}/clarification",
                        Some(&json!({"option_id": option})),
                        None,
                    )
                    .await
                {
                    return Outcome::Failed(failure);
                }
                answered = true;
            }
            other => {
                return Outcome::Failed(Failure(format!(
                    "assistant run ended {other}: {}",
                    answer.body["error"].as_str().unwrap_or("")
                )));
            }
        }
    };
    let ready = began.elapsed();
    let commit_began = Instant::now();
    for action in view["actions"].as_array().into_iter().flatten() {
        let id = action["id"].as_str().unwrap_or_default();
        let decision = if !insured && action["action_type"] == "suggest_billing" {
            "reject"
        } else {
            "accept"
        };
        if let Err(failure) = client
            .call(
                Method::POST,
                &format!("/api/v1/ai/actions/{id}/review"),
                "POST /api/v1/ai/actions/{id}/review",
                Some(&json!({"decision": decision})),
                None,
            )
            .await
        {
            return Outcome::Failed(failure);
        }
    }
    match client
        .call(
            Method::POST,
            &format!("/api/v1/ai/runs/{run}/commit"),
            "POST /api/v1/ai/runs/{id}/commit",
            Some(&json!({})),
            None,
        )
        .await
    {
        Ok(answer) if answer.body["status"] == "committed" => {
            Outcome::Done(vec![ready, commit_began.elapsed()])
        }
        Ok(answer) => Outcome::Failed(Failure(format!(
            "POST /api/v1/ai/runs/{{id}}/commit: answered status {}",
            answer.body["status"]
        ))),
        Err(failure) => Outcome::Failed(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_are_checked() {
        assert_eq!(
            parse_scenarios("search, chart,week").unwrap(),
            [Kind::Search, Kind::Chart, Kind::Week]
        );
        let unknown = parse_scenarios("search,charts").unwrap_err();
        assert!(unknown.contains("\"charts\""), "{unknown}");
        assert!(unknown.contains("sign-in, search, chart"), "{unknown}");
        assert!(parse_scenarios("chart,chart").is_err());
        assert!(parse_scenarios(" , ").is_err());
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
        }
    }

    #[test]
    fn only_the_four_reads_are_reads() {
        let reads: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.is_read()).collect();
        assert_eq!(reads, [Kind::Search, Kind::Chart, Kind::Week, Kind::Claims]);
    }

    #[test]
    fn slots_never_overlap() {
        let slots = Slots::after(1_804_604_400);
        let (a_start, a_end) = slots.take();
        let (b_start, _) = slots.take();
        assert_eq!(a_start, "2027-03-09T15:00:00Z");
        assert_eq!(a_end, "2027-03-09T15:25:00Z");
        assert_eq!(b_start, "2027-03-09T15:30:00Z");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query("Kettring"), "Kettring");
        assert_eq!(encode_query("O'Bri en&x"), "O%27Bri%20en%26x");
        assert_eq!(encode_query("Müller"), "M%C3%BCller");
    }

    #[test]
    fn the_most_frequent_errors_are_kept() {
        let errors: Vec<String> = ["b", "a", "b", "c", "d", "e", "f", "b", "a"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let samples = error_samples(&errors);
        assert_eq!(samples.len(), 5);
        assert_eq!((samples[0].message.as_str(), samples[0].count), ("b", 3));
        assert_eq!((samples[1].message.as_str(), samples[1].count), ("a", 2));
    }
}
