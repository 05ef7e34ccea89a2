//! `indra bench http`: the clinic's everyday requests over HTTP against a running server, each
//! beside the database's own limit on the same machine.
//!
//! In one run, against `--url` (a running `indra serve`) and its database (`DATABASE_URL`, the
//! owner, read to find users and inputs):
//! 1. each scenario ([`scenarios::Kind`]) with `--clients` concurrent clients, each signed in
//!    as its own user, spread over organizations: requests, throughput, errors, p50/p95/p99/max;
//! 2. each read scenario's SQL, as the server issues it for one request, run by pgbench at the
//!    same concurrency (the API's throughput ÷ pgbench's), and the same SQL as `authenticated`
//!    against `service_role` (the cost of row-level security) ([`sql`]);
//! 3. the audit trigger's cost on writes, with `indra bench audit-writes`'s own phases in a
//!    scratch database;
//! 4. the server's resident memory (`--server-pid`).
//!
//! It writes `report.json`, `report.md` (also printed) and `latency.svg`, and the exact pgbench
//! scripts, into `--out`. It installs nothing: a missing pgbench is reported as such.

mod client;
mod machine;
mod pgbench;
mod population;
mod report;
mod scenarios;
mod sql;
mod stats;
mod svg;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::bench::{Bound, Scenario, Shape, SplitMix64, in_scratch_database, misspell, run_phase};
use machine::{Machine, RssSampler};
use population::{Member, OrgData};
use report::{ApiVsPgbench, AuditCost, Comparisons, Report, RlsCost, ServerMemory, Settings};
use scenarios::{ClientWork, EXPORT_CLAIMS, Input, Kind, ScenarioPlan, ScenarioResult, Slots};
use sql::Setup;

/// The demo's password (`indra demo`), when neither `--password` nor `INDRA_DEMO_PASSWORD`.
const DEMO_PASSWORD: &str = "indra-demo-2026";
/// Inputs each pgbench script draws from, sampled from the API scenario's.
const INPUTS_PER_SCRIPT: usize = 50;
/// Misspelled names prepared per organization.
const QUERIES_PER_ORG: usize = 200;
/// The statement timeout the server sets by default (`INDRA_STATEMENT_TIMEOUT_MS` 5000), as
/// `app.begin_request` receives it.
const SERVER_STATEMENT_TIMEOUT: &str = "5000ms";

#[derive(Debug, clap::Args)]
pub struct HttpArgs {
    /// The running server.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_parser = parse_url)]
    url: String,

    /// Concurrent clients, each a task with its own connection and user.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=256))]
    clients: u32,

    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,

    /// Unmeasured seconds before each scenario's measured window.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=60))]
    warm_up: u64,

    /// Scenarios to run, comma-separated [default: all]: sign-in, search, chart, week, note,
    /// book, claims, export, assistant.
    #[arg(long, value_parser = parse_scenario_list)]
    scenarios: Option<ScenarioList>,

    /// Where to write the report [default: target/bench-http/<UTC timestamp>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// The server's process id: its resident memory (VmRSS) is sampled during the run.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,

    /// The users' password (every demo and scale user has the demo's).
    #[arg(long, env = "INDRA_DEMO_PASSWORD", default_value = DEMO_PASSWORD, hide_env_values = true)]
    password: String,

    /// Concurrent 837P exports (each consumes 100 ready claims of one organization).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    export_clients: u32,

    /// Before the export scenario, top each exporting organization up to this many ready
    /// claims, copied from its own documented claims (they stay in the database); 0 uses the
    /// ready claims there are.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    ready_claims: i64,

    /// Seconds of each pgbench run and each audit phase [default: --seconds].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=600))]
    compare_seconds: Option<u64>,
}

/// The scenarios `--scenarios` names.
#[derive(Debug, Clone)]
pub struct ScenarioList(Vec<Kind>);

fn parse_scenario_list(text: &str) -> Result<ScenarioList, String> {
    scenarios::parse_scenarios(text).map(ScenarioList)
}

/// `--url`: an http(s) origin, without a path.
fn parse_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{text:?}: the server's URL starts with http:// or https://"
        ));
    }
    if url.host_str().is_none() || url.path() != "/" || url.query().is_some() {
        return Err(format!(
            "{text:?}: give the server's address only, e.g. http://127.0.0.1:8080"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

pub async fn http(database_url: &str, args: HttpArgs) -> anyhow::Result<ExitCode> {
    let started_at = now_utc_text();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("target/bench-http").join(started_at.replace([':', '-'], ""))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let kinds = args
        .scenarios
        .clone()
        .map_or_else(|| Kind::ALL.to_vec(), |list| list.0);
    let compare_seconds = args.compare_seconds.unwrap_or(args.seconds);

    // The server must answer before anything is measured.
    let probe = client::Client::new(&args.url)?
        .get("/readyz", "GET /readyz")
        .await;
    if let Err(failure) = probe {
        anyhow::bail!("the server at {} is not ready: {failure}", args.url);
    }

    let owner = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(PgConnectOptions::from_str(database_url)?.disable_statement_logging())
        .await
        .context("connecting to DATABASE_URL (the server's database, as its owner)")?;
    let result = measure(
        &owner,
        database_url,
        &args,
        &kinds,
        compare_seconds,
        started_at,
        &out,
    )
    .await;
    owner.close().await;
    let report = result?;

    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    let markdown = report::render_markdown(&report);
    std::fs::write(out.join("report.md"), &markdown)?;
    std::fs::write(out.join("latency.svg"), chart(&report))?;
    print!("{markdown}");
    eprintln!(
        "wrote {} (report.json, report.md, latency.svg, pgbench/)",
        out.display()
    );
    Ok(if report.read_errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn measure(
    owner: &PgPool,
    database_url: &str,
    args: &HttpArgs,
    kinds: &[Kind],
    compare_seconds: u64,
    started_at: String,
    out: &Path,
) -> anyhow::Result<Report> {
    let machine = Machine::read();
    let (postgres_version, postgres_settings) = population::postgres_settings(owner).await?;
    let data = population::data_set(owner).await?;
    let members = population::members(owner).await?;
    ensure!(
        !members.is_empty(),
        "the database has no users who can sign in; load `indra demo` or `indra demo --scale N`"
    );
    eprintln!(
        "data: {} organizations, {} patients, {} users who can sign in",
        data.organizations,
        data.patients,
        members.len()
    );

    let mut orgs: HashMap<Uuid, OrgData> = HashMap::new();
    let mut plans: Vec<Result<ScenarioPlan, (Kind, String)>> = Vec::new();
    for &kind in kinds {
        let plan = plan(kind, owner, &members, &mut orgs, args).await?;
        plans.push(plan.map_err(|why| (kind, why)));
    }

    let sampler = args.server_pid.map(RssSampler::start);
    let mut server_memory = ServerMemory {
        pid: args.server_pid,
        ..ServerMemory::default()
    };
    let rss = match sampler {
        Some(Ok(sampler)) => Some(sampler),
        Some(Err(e)) => {
            server_memory.error = Some(e.to_string());
            None
        }
        None => None,
    };

    let mut results = Vec::new();
    for plan in &plans {
        let result = match plan {
            Err((kind, why)) => {
                eprintln!("{}: not run: {why}", kind.name());
                ScenarioResult::not_run(*kind, why.clone())
            }
            Ok(plan) => {
                eprintln!(
                    "{}: {} clients, {} s warm-up + {} s ...",
                    plan.kind.name(),
                    plan.clients.len(),
                    args.warm_up,
                    args.seconds
                );
                let result = scenarios::run(
                    plan,
                    &args.url,
                    &args.password,
                    Duration::from_secs(args.warm_up),
                    Duration::from_secs(args.seconds),
                    rss.as_ref(),
                )
                .await;
                eprintln!(
                    "{}: {} operations, {:.1}/s, {} errors, p99 {}",
                    plan.kind.name(),
                    result.operations,
                    result.per_sec(),
                    result.errors,
                    result
                        .latency()
                        .map_or("—".into(), |l| format!("{:.1} ms", l.p99_ms))
                );
                result
            }
        };
        results.push(result);
    }
    if let Some(rss) = &rss {
        server_memory.start_rss_mib = Some(rss.start_mib);
        let (max, samples) = rss.finish();
        server_memory.max_rss_mib = Some(max);
        server_memory.samples = samples;
    }

    let comparisons = compare_with_pgbench(
        owner,
        database_url,
        &plans,
        &results,
        &orgs,
        args.clients,
        compare_seconds,
        out,
    )
    .await?;
    eprintln!(
        "audit trigger cost: {compare_seconds} s audited, {compare_seconds} s unaudited, in a scratch database ..."
    );
    let audit = audit_cost(database_url, args.clients, compare_seconds).await;

    let targets = report::evaluate_targets(&results, &comparisons, &audit, &server_memory);
    let read_errors = report::read_errors(&results);
    Ok(Report {
        benchmark: "http",
        started_at,
        url: args.url.clone(),
        machine,
        postgres_version,
        postgres_settings,
        data,
        settings: Settings {
            clients: args.clients,
            seconds: args.seconds,
            warm_up_seconds: args.warm_up,
            compare_seconds,
            export_clients: args.export_clients,
            scenarios: kinds.iter().map(|k| k.name()).collect(),
            server_pid: args.server_pid,
        },
        scenarios: results,
        pgbench: comparisons,
        audit,
        server_memory,
        targets,
        read_errors,
    })
}

/// Now, UTC, as `2026-12-01T10:00:00Z`.
fn now_utc_text() -> String {
    let unix = time::OffsetDateTime::now_utc().unix_timestamp();
    scenarios::rfc3339(unix)
}

/// The organization's data, loaded once.
async fn org<'a>(
    owner: &PgPool,
    orgs: &'a mut HashMap<Uuid, OrgData>,
    id: Uuid,
) -> anyhow::Result<&'a OrgData> {
    if let std::collections::hash_map::Entry::Vacant(slot) = orgs.entry(id) {
        slot.insert(population::org_data(owner, id).await?);
    }
    orgs.get(&id).context("organization data")
}

/// Who runs `kind` and with what inputs; `Err(why)` when it cannot run on this data.
async fn plan(
    kind: Kind,
    owner: &PgPool,
    members: &[Member],
    orgs: &mut HashMap<Uuid, OrgData>,
    args: &HttpArgs,
) -> anyhow::Result<Result<ScenarioPlan, String>> {
    let clients = args.clients as usize;
    let export_clients = args.export_clients as usize;
    let roles: &[&str] = match kind {
        Kind::SignIn => &["admin", "provider", "billing", "staff"],
        Kind::Claims | Kind::Export => &["billing"],
        Kind::Book => &["staff"],
        _ => &["provider"],
    };
    let mut notes = Vec::new();
    let mut chosen = population::spread(members, roles, clients);
    if chosen.is_empty() && kind == Kind::Book {
        notes.push("no front desk users: clinicians book".to_owned());
        chosen = population::spread(members, &["provider"], clients);
    }
    if chosen.is_empty() {
        return Ok(Err(format!(
            "no user with the role {} (and a provider record, for clinicians) can sign in",
            roles.join(" or ")
        )));
    }

    let mut work = Vec::new();
    match kind {
        Kind::Export => {
            if args.ready_claims > 0 {
                let billers =
                    population::spread(members, &["billing"], export_clients.min(clients));
                let mut exporting: Vec<Uuid> = billers.iter().map(|m| m.org_id).collect();
                exporting.sort_unstable();
                exporting.dedup();
                let mut made = 0;
                for org_id in &exporting {
                    made += population::make_ready_claims(owner, *org_id, args.ready_claims)
                        .await
                        .with_context(|| format!("making ready claims in organization {org_id}"))?;
                }
                notes.push(format!(
                    "the benchmark made {made} ready claims before the run (--ready-claims {}: \
                     copies of {} organizations' own documented claims, as `indra bench \
                     claims-export` makes them); the exports submitted them",
                    args.ready_claims,
                    exporting.len()
                ));
            }
            let ready = population::ready_claims_by_org(owner).await?;
            let mut queue = VecDeque::new();
            for (org_id, count) in &ready {
                if *count < EXPORT_CLAIMS as i64 {
                    continue;
                }
                if let Some(biller) = members
                    .iter()
                    .find(|m| m.org_id == *org_id && m.role == "billing")
                {
                    queue.push_back((*org_id, biller.email.clone()));
                }
            }
            if queue.is_empty() {
                return Ok(Err(format!(
                    "no organization has {EXPORT_CLAIMS} ready claims and a biller who can sign in \
                     (the most ready claims in one organization: {})",
                    ready.first().map_or(0, |(_, n)| *n)
                )));
            }
            let concurrency = export_clients.min(clients).min(queue.len());
            notes.push(format!(
                "{concurrency} concurrent exports, not {clients}: each needs 100 ready claims of its \
                 own, and two exports of one organization would race for the same claims; {} \
                 organizations had 100 or more ready claims ({} exports' worth)",
                queue.len(),
                ready.iter().map(|(_, n)| n / EXPORT_CLAIMS as i64).sum::<i64>()
            ));
            // The client count is the concurrency; each signs in as the biller of whichever
            // organization it takes from the queue, starting with the first ones.
            let firsts: Vec<Member> = queue
                .iter()
                .take(concurrency)
                .filter_map(|(org_id, email)| {
                    members
                        .iter()
                        .find(|m| m.org_id == *org_id && m.email == *email)
                        .cloned()
                })
                .collect();
            let queue = Arc::new(Mutex::new(queue));
            for member in firsts {
                work.push(ClientWork {
                    member,
                    input: Input::Export {
                        queue: Arc::clone(&queue),
                    },
                });
            }
        }
        Kind::Book => {
            let first_unix: i64 = sqlx::query_scalar(
                "select extract(epoch from date_trunc('day', greatest(max(ends_at), now())) + interval '1 day')::int8
                   from appointments",
            )
            .fetch_one(owner)
            .await?;
            let slots = Arc::new(Slots::after(first_unix));
            notes.push(format!(
                "each booking takes its own half hour from {} on, after every appointment already held",
                scenarios::rfc3339(first_unix)
            ));
            for member in chosen {
                let data = org(owner, orgs, member.org_id).await?;
                work.push(ClientWork {
                    input: Input::Book {
                        patients: Arc::new(data.patients.iter().map(|p| p.id).collect()),
                        providers: Arc::new(data.providers.clone()),
                        slots: Arc::clone(&slots),
                    },
                    member,
                });
            }
        }
        _ => {
            let mut queries: HashMap<Uuid, Arc<Vec<String>>> = HashMap::new();
            for member in chosen {
                let data = org(owner, orgs, member.org_id).await?;
                let input = match kind {
                    Kind::SignIn => Input::SignIn,
                    Kind::Search => {
                        let list = queries.entry(member.org_id).or_insert_with(|| {
                            let mut rng = SplitMix64(0x5ea2_c400 ^ member.org_id.as_u128() as u64);
                            Arc::new(if data.last_names.is_empty() {
                                Vec::new()
                            } else {
                                (0..QUERIES_PER_ORG)
                                    .map(|_| {
                                        let name =
                                            &data.last_names[rng.below(data.last_names.len())];
                                        misspell(name, rng.next())
                                    })
                                    .collect()
                            })
                        });
                        Input::Search {
                            queries: Arc::clone(list),
                        }
                    }
                    Kind::Chart => Input::Chart {
                        patients: Arc::new(data.patients_of(member.provider_id)),
                    },
                    Kind::Week => {
                        let provider = member.provider_id.context("a clinician's provider")?;
                        let mut mondays = data.weeks.get(&provider).cloned().unwrap_or_default();
                        if mondays.is_empty() {
                            // A clinician without appointments looks at weeks their colleagues have.
                            mondays = data.weeks.values().flatten().copied().collect();
                            mondays.sort_unstable();
                            mondays.dedup();
                        }
                        Input::Week {
                            provider,
                            mondays: Arc::new(mondays),
                        }
                    }
                    Kind::Note => Input::Note {
                        provider: member.provider_id.context("a clinician's provider")?,
                        patients: Arc::new(data.patients_of(member.provider_id)),
                    },
                    Kind::Claims => {
                        let mut statuses: Vec<String> = data
                            .claim_statuses
                            .iter()
                            .filter(|(_, n)| *n > 0)
                            .map(|(s, _)| s.clone())
                            .collect();
                        if statuses.is_empty() {
                            statuses.push("ready".into());
                        }
                        Input::Claims {
                            statuses: Arc::new(statuses),
                        }
                    }
                    Kind::Assistant => Input::Assistant {
                        patients: Arc::new(data.patients_with_coverage(member.provider_id)),
                    },
                    Kind::Book | Kind::Export => unreachable_input(kind)?,
                };
                work.push(ClientWork { member, input });
            }
        }
    }
    if kind == Kind::Assistant {
        notes.push(
            "the server's worker runs the queue: when idle it looks for runs every \
             INDRA_AI_POLL_MS (500 ms unless set) and runs INDRA_AI_CONCURRENCY (2) at once, \
             which bounds this scenario's latency and throughput"
                .to_owned(),
        );
    }
    if let Some(why) = missing_inputs(&work) {
        return Ok(Err(why));
    }
    let users = {
        let mut ids: Vec<Uuid> = work.iter().map(|w| w.member.user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    if users < work.len() && kind != Kind::Export {
        notes.push(format!(
            "{} clients share {users} users: the data set has fewer users of the role",
            work.len()
        ));
    }
    Ok(Ok(ScenarioPlan {
        kind,
        clients: work,
        notes,
    }))
}

fn unreachable_input(kind: Kind) -> anyhow::Result<Input> {
    anyhow::bail!("{kind:?} is planned apart")
}

/// Why no client has anything to ask for, when none has.
fn missing_inputs(work: &[ClientWork]) -> Option<String> {
    let empty = |w: &ClientWork| match &w.input {
        Input::Search { queries } => queries
            .is_empty()
            .then_some("no last name of 5 letters or more"),
        Input::Chart { patients } | Input::Note { patients, .. } => {
            patients.is_empty().then_some("no active patients")
        }
        Input::Assistant { patients } => patients.is_empty().then_some("no active patients"),
        Input::Week { mondays, .. } => mondays.is_empty().then_some("no appointments"),
        Input::Book {
            patients,
            providers,
            ..
        } => (patients.is_empty() || providers.is_empty()).then_some("no patients or providers"),
        Input::SignIn | Input::Claims { .. } | Input::Export { .. } => None,
    };
    let reasons: Vec<&str> = work.iter().filter_map(empty).collect();
    (reasons.len() == work.len() && !work.is_empty())
        .then(|| format!("the clients' organizations have {}", reasons[0]))
}

/// The API beside pgbench, and RLS beside the service role, for each read scenario that ran.
#[allow(clippy::too_many_arguments)]
async fn compare_with_pgbench(
    owner: &PgPool,
    database_url: &str,
    plans: &[Result<ScenarioPlan, (Kind, String)>],
    results: &[ScenarioResult],
    orgs: &HashMap<Uuid, OrgData>,
    clients: u32,
    seconds: u64,
    out: &Path,
) -> anyhow::Result<Comparisons> {
    let mut comparisons = Comparisons::default();
    let pgbench = match pgbench::find() {
        Ok(p) => p,
        Err(why) => {
            comparisons.reason = Some(why);
            return Ok(comparisons);
        }
    };
    comparisons.pgbench = Some(pgbench.version.clone());
    let search_body: String = sqlx::query_scalar(
        "select prosrc from pg_proc
          where oid = 'app.search_patients(text[], date, text, integer)'::regprocedure",
    )
    .fetch_one(owner)
    .await
    .context("reading the body of app.search_patients")?;

    for plan in plans.iter().filter_map(|p| p.as_ref().ok()) {
        let kind = plan.kind;
        if !kind.is_read() {
            continue;
        }
        let Some(result) = results.iter().find(|r| r.scenario == kind && r.ran()) else {
            continue;
        };
        let dir = out.join("pgbench").join(kind.name());
        std::fs::create_dir_all(&dir)?;
        let relative = format!("pgbench/{}", kind.name());
        let scripts = write_scripts(owner, plan, orgs, &search_body, &dir).await;
        let (endpoint, rls, service) = match scripts {
            Ok(s) => s,
            Err(e) => {
                let error = format!("writing the scripts: {e:#}");
                comparisons.api_vs_pgbench.push(ApiVsPgbench {
                    scenario: kind,
                    api_per_sec: result.per_sec(),
                    pgbench: None,
                    ratio: None,
                    scripts: relative.clone(),
                    error: Some(error.clone()),
                });
                comparisons.rls.push(RlsCost {
                    scenario: kind,
                    authenticated: None,
                    service_role: None,
                    ratio: None,
                    cost_percent: None,
                    scripts: relative,
                    error: Some(error),
                    endpoint_under_rls: kind != Kind::Search,
                    note: rls_note(kind),
                });
                continue;
            }
        };
        let mut runs = Vec::new();
        for (variant, files) in [("endpoint", endpoint), ("rls", rls), ("service", service)] {
            eprintln!(
                "pgbench {} {variant}: {} scripts, {clients} clients, {seconds} s ...",
                kind.name(),
                files.len()
            );
            let bench = pgbench.clone();
            let url = database_url.to_owned();
            let run = tokio::task::spawn_blocking(move || {
                pgbench::run(&bench, &url, &files, clients, seconds)
            })
            .await
            .context("the pgbench task")?;
            if let Ok(r) = &run {
                eprintln!("pgbench {} {variant}: {:.1} tps", kind.name(), r.tps);
            }
            runs.push(run.map_err(|e| format!("{e:#}")));
        }
        let mut runs = runs.into_iter();
        let (endpoint, rls, service) = (
            runs.next().unwrap_or_else(|| Err("not run".into())),
            runs.next().unwrap_or_else(|| Err("not run".into())),
            runs.next().unwrap_or_else(|| Err("not run".into())),
        );
        let api_per_sec = result.per_sec();
        comparisons.api_vs_pgbench.push(ApiVsPgbench {
            scenario: kind,
            api_per_sec,
            ratio: endpoint
                .as_ref()
                .ok()
                .filter(|r| r.tps > 0.0)
                .map(|r| api_per_sec / r.tps),
            error: endpoint.as_ref().err().cloned(),
            pgbench: endpoint.ok(),
            scripts: relative.clone(),
        });
        let ratio = match (&rls, &service) {
            (Ok(a), Ok(s)) if s.tps > 0.0 => Some(a.tps / s.tps),
            _ => None,
        };
        comparisons.rls.push(RlsCost {
            scenario: kind,
            ratio,
            cost_percent: ratio.map(|r| (1.0 - r) * 100.0),
            error: rls.as_ref().err().or(service.as_ref().err()).cloned(),
            authenticated: rls.ok(),
            service_role: service.ok(),
            scripts: relative,
            endpoint_under_rls: kind != Kind::Search,
            note: rls_note(kind),
        });
    }
    Ok(comparisons)
}

/// What the RLS pair of `kind` means, when it is not the endpoint's own cost.
fn rls_note(kind: Kind) -> Option<String> {
    (kind == Kind::Search).then(|| {
        "the search endpoint does not run under RLS: it calls app.search_patients, a SECURITY \
         DEFINER function that states the organization itself (migration 0012) and that only \
         `authenticated` may execute; so the pair runs the function's body as a statement, which \
         shows what RLS would cost the search without that function (under the policy the \
         trigram condition is not pushed into the index scan, a non-leakproof operator; every \
         patient of the organization is read)"
            .to_owned()
    })
}

/// Up to 50 inputs the scenario's clients used (caller and request), as three scripts
/// (`endpoint.sql`, `rls.sql`, `service.sql`) written into `dir`; returns their paths.
async fn write_scripts(
    owner: &PgPool,
    plan: &ScenarioPlan,
    orgs: &HashMap<Uuid, OrgData>,
    search_body: &str,
    dir: &Path,
) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>)> {
    use indra_server::clinical::patients::chart::{RECENT_ENCOUNTERS, UPCOMING_APPOINTMENTS};
    use indra_server::clinical::patients::search::PatientQuery;
    use sql::{Param, Param::Constant, Param::Input as Var};

    let limit = i64::from(indra_server::api::pagination::DEFAULT_LIMIT);
    let kind = plan.kind;
    let caller = ["auth_id", "claims", "org"];
    let mut names: Vec<&'static str> = caller.to_vec();
    names.extend_from_slice(match kind {
        Kind::Search => &["words"][..],
        Kind::Chart => &["patient"],
        Kind::Week => &["provider", "week_start", "week_end"],
        Kind::Claims => &["status"],
        _ => anyhow::bail!("{kind:?} is not a read scenario"),
    });
    let mut inputs = sql::Inputs::new(&names);
    let mut rng = SplitMix64(0x9b_be4c);
    for n in 0..INPUTS_PER_SCRIPT {
        let work = &plan.clients[n % plan.clients.len()];
        let member = &work.member;
        let mut values = vec![
            member.auth_id.to_string(),
            sql::claims_json(member.auth_id, member.org_id, &member.role),
            member.org_id.to_string(),
        ];
        let request = match &work.input {
            Input::Search { queries } => {
                let q = &queries[rng.below(queries.len())];
                let PatientQuery::Name(words) =
                    PatientQuery::parse(q).map_err(|e| anyhow::anyhow!("{q:?}: {e:?}"))?
                else {
                    anyhow::bail!("{q:?} is not read as a name");
                };
                values.push(sql::text_array(&words));
                format!("GET /api/v1/patients?q={q}")
            }
            Input::Chart { patients } => {
                let patient = patients[rng.below(patients.len())];
                values.push(patient.to_string());
                format!("GET /api/v1/patients/{patient}/chart")
            }
            Input::Week { provider, mondays } => {
                let monday = mondays[rng.below(mondays.len())];
                let zone = &orgs
                    .get(&member.org_id)
                    .context("the clinician's organization")?
                    .time_zone;
                let (start, end) = population::week_bounds(owner, monday, zone).await?;
                values.push(provider.to_string());
                values.push(sql::timestamp_text(start)?);
                values.push(sql::timestamp_text(end)?);
                format!(
                    "GET /api/v1/providers/{provider}/calendar?from={}&days=7",
                    scenarios::iso_date(monday)
                )
            }
            Input::Claims { statuses } => {
                let status = &statuses[rng.below(statuses.len())];
                values.push(status.clone());
                format!("GET /api/v1/claims?status={status}")
            }
            _ => anyhow::bail!("{kind:?} is not a read scenario"),
        };
        inputs.push(format!("{request} as {}", member.email), values)?;
    }

    let statements = |org_filter: bool| -> anyhow::Result<Vec<sql::Bound>> {
        let bind = |m: &sql::Mirrored, params: &[Param]| sql::bound(m, params, org_filter);
        match kind {
            Kind::Search if org_filter => Ok(vec![sql::search_body_statement(search_body, limit)?]),
            Kind::Search => Ok(vec![bind(
                &sql::SEARCH,
                &[
                    Var("words"),
                    Constant(sql::Literal::Null("date")),
                    Constant(sql::Literal::Null("text")),
                    Constant(sql::Literal::BigInt(limit)),
                ],
            )?]),
            Kind::Chart => sql::CHART
                .iter()
                .map(|m| {
                    let rows = if m.template.contains("from appointments a") {
                        UPCOMING_APPOINTMENTS
                    } else {
                        RECENT_ENCOUNTERS
                    };
                    bind(m, &[Var("patient"), Constant(sql::Literal::BigInt(rows))])
                })
                .collect(),
            Kind::Week => sql::WEEK
                .iter()
                .zip([
                    vec![Var("provider")],
                    vec![Var("org")],
                    vec![Var("org")],
                    vec![Var("provider"), Var("week_start"), Var("week_end")],
                ])
                .map(|(m, params)| bind(m, &params))
                .collect(),
            Kind::Claims => Ok(vec![bind(
                &sql::CLAIMS,
                &[
                    Var("status"),
                    // The handler asks for one row more than the page, to know whether there
                    // is a next page.
                    Constant(sql::Literal::BigInt(limit + 1)),
                ],
            )?]),
            _ => anyhow::bail!("{kind:?} is not a read scenario"),
        }
    };
    let plain = statements(false)?;
    let filtered = statements(true)?;
    let prelude = if kind == Kind::Search {
        vec![sql::SEARCH_THRESHOLD.to_owned()]
    } else {
        Vec::new()
    };
    let title = format!("{} ({} inputs)", kind.title(), inputs.rows.len());
    let mut paths = Vec::new();
    for (setup, statements, prelude) in [
        (Setup::BeginRequest, &plain, &Vec::new()),
        (Setup::Authenticated, &filtered, &prelude),
        (Setup::ServiceRole, &filtered, &prelude),
    ] {
        let text = sql::script(
            &title,
            setup,
            SERVER_STATEMENT_TIMEOUT,
            prelude,
            statements,
            &inputs,
        )?;
        let path = dir.join(format!("{}.sql", setup.name()));
        std::fs::write(&path, text)?;
        paths.push(vec![path]);
    }
    let mut paths = paths.into_iter();
    let mut next = || paths.next().unwrap_or_default();
    Ok((next(), next(), next()))
}

/// `indra bench audit-writes`'s two phases for API-shaped writes (one patient per transaction,
/// each client its own organization) at the run's concurrency, in a scratch database.
async fn audit_cost(database_url: &str, clients: u32, seconds: u64) -> AuditCost {
    let mut cost = AuditCost {
        clients,
        seconds,
        ..AuditCost::default()
    };
    let measured = in_scratch_database(database_url, None, false, |url, _name| async move {
        let owner = indra_db::connect(&url)
            .await
            .context("connecting to the scratch database")?;
        let phases = async {
            indra_db::migrate(&owner).await?;
            let orgs = indra_db::bench::create_organizations(&owner, clients).await?;
            let options = PgConnectOptions::from_str(&url)?
                .options([("statement_timeout", "60s")])
                .disable_statement_logging();
            let writers = PgPoolOptions::new()
                .max_connections(clients)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            let shape = Shape {
                one_org: false,
                rows_per_txn: 1,
            };
            let bound = Bound::Seconds(seconds);
            let audited = run_phase(
                &owner,
                &writers,
                &orgs,
                &shape,
                Scenario::Audited,
                bound,
                clients,
            )
            .await;
            let unaudited = match &audited {
                Ok(_) => {
                    run_phase(
                        &owner,
                        &writers,
                        &orgs,
                        &shape,
                        Scenario::Unaudited,
                        bound,
                        clients,
                    )
                    .await
                }
                Err(_) => Err(anyhow::anyhow!("not run")),
            };
            writers.close().await;
            anyhow::Ok((audited?, unaudited?))
        }
        .await;
        owner.close().await;
        phases
    })
    .await;
    match measured {
        Ok((audited, unaudited)) => {
            let ratio = audited.rows_per_sec / unaudited.rows_per_sec;
            cost.audited_rows_per_sec = Some(audited.rows_per_sec);
            cost.unaudited_rows_per_sec = Some(unaudited.rows_per_sec);
            cost.audited_max_txn_ms = Some(audited.max_txn_ms);
            cost.unaudited_max_txn_ms = Some(unaudited.max_txn_ms);
            cost.ratio = Some(ratio);
            cost.cost_percent = Some((1.0 - ratio) * 100.0);
            eprintln!(
                "audit: {:.0} rows/s audited, {:.0} unaudited, cost {:.1}%",
                audited.rows_per_sec,
                unaudited.rows_per_sec,
                (1.0 - ratio) * 100.0
            );
        }
        Err(e) => cost.error = Some(format!("{e:#}")),
    }
    cost
}

/// The latency chart of the scenarios that ran.
fn chart(report: &Report) -> String {
    let targets: HashMap<Kind, f64> = [
        (Kind::Search, 15.0),
        (Kind::Chart, 25.0),
        (Kind::Week, 25.0),
    ]
    .into_iter()
    .collect();
    let mut bars = Vec::new();
    for r in report.scenarios.iter().filter(|r| r.ran()) {
        for (i, measure) in r.measures.iter().enumerate() {
            let Some(l) = &measure.latency else { continue };
            bars.push(svg::Bars {
                label: if i == 0 {
                    r.title.to_owned()
                } else {
                    format!("· {}", short(measure.name))
                },
                p50_ms: l.p50_ms,
                p95_ms: l.p95_ms,
                p99_ms: l.p99_ms,
                target_ms: if i == 0 {
                    targets.get(&r.scenario).copied()
                } else {
                    None
                },
            });
        }
    }
    svg::latency_chart(
        "Indra over HTTP: latency by scenario (p50, p95, p99)",
        &format!(
            "{} clients, {} s per scenario, {} organizations, {} patients, {} cores; dashed: p99 target",
            report.settings.clients,
            report.settings.seconds,
            report.data.organizations,
            report.data.patients,
            report.machine.cores
        ),
        &bars,
    )
}

/// A part's name without its route, for the chart's labels.
fn short(name: &str) -> &str {
    name.split(" (").next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: HttpArgs,
    }

    #[test]
    fn the_url_is_an_http_origin() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse_url("http://localhost:8080/").unwrap(),
            "http://localhost:8080"
        );
        assert!(parse_url("127.0.0.1:8080").is_err());
        assert!(parse_url("ftp://host").is_err());
        assert!(parse_url("http://host/api/v1").is_err());
        assert!(parse_url("http://host/?a=1").is_err());
    }

    #[test]
    fn arguments_are_checked() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("bench-http").chain(args.iter().copied()))
        };
        let defaults = parse(&[]).unwrap().args;
        assert_eq!(
            (defaults.clients, defaults.seconds, defaults.warm_up),
            (32, 10, 2)
        );
        assert_eq!(defaults.url, "http://127.0.0.1:8080");
        assert!(defaults.scenarios.is_none());
        let chosen = parse(&["--scenarios", "chart,week", "--clients", "4"]).unwrap();
        assert_eq!(chosen.args.scenarios.unwrap().0, [Kind::Chart, Kind::Week]);
        for bad in [
            &["--clients", "0"][..],
            &["--clients", "257"],
            &["--seconds", "0"],
            &["--warm-up", "61"],
            &["--scenarios", "chart,nope"],
            &["--url", "localhost:8080"],
            &["--compare-seconds", "0"],
            &["--export-clients", "0"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parts_are_shown_without_their_route() {
        assert_eq!(short("sign (POST /notes/{id}/sign)"), "sign");
        assert_eq!(short("request"), "request");
    }
}
