//! `indra ai eval FILE`: ai-eval/FORMAT.md. Every case in its own organization of a scratch
//! database on the DATABASE_URL's server (created, migrated, dropped at the end), the run
//! going through the real queue, loop and policies with the case's clock; the case's answer
//! given through the same call the API uses. `indra ai worker` works the queue.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indra_ai::dictation::{Clarification, ClarificationTopic, ProposedAction};
use indra_ai::eval::{Case, Report, RunOutcome, compare};
use indra_ai::model::{Model, RulesModel};
use indra_ai::runs::{self, AiSettings, ClarificationAnswer, NewRun, act_as};
use indra_ai::worker;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The cases, one JSON object a line (ai-eval/FORMAT.md).
    file: PathBuf,
    /// The model: `rules` (default), or `openai:MODEL` / `anthropic:MODEL` (keys from
    /// OPENAI_API_KEY / ANTHROPIC_API_KEY; OPENAI_BASE_URL for a compatible server).
    #[arg(long, default_value = "rules")]
    model: String,
    /// Print each run's time.
    #[arg(long)]
    timings: bool,
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Runs executed at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

fn model(spec: &str) -> anyhow::Result<Model> {
    if spec == "rules" {
        return Ok(Model::Rules(RulesModel));
    }
    let (kind, name) = spec
        .split_once(':')
        .context("--model is rules, openai:MODEL or anthropic:MODEL")?;
    let base_url = std::env::var("OPENAI_BASE_URL").ok();
    let base_url = if kind == "openai" {
        base_url.as_deref()
    } else {
        None
    };
    indra_ai::model::external(kind, Some(name), base_url, None).map_err(anyhow::Error::from)
}

pub async fn worker(database_url: &str, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let pool = indra_db::connect(database_url).await?;
    let settings = AiSettings {
        concurrency: args.concurrency,
        ..AiSettings::default()
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    worker::run_worker(pool, settings, shutdown).await;
    Ok(ExitCode::SUCCESS)
}

pub async fn eval(database_url: &str, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let cases = Case::parse_jsonl(&text).map_err(anyhow::Error::msg)?;
    if cases.is_empty() {
        bail!("{} holds no cases", args.file.display());
    }
    let settings = AiSettings {
        model_override: Some(Arc::new(model(&args.model)?)),
        lease: Duration::from_secs(300),
        ..AiSettings::default()
    };

    let scratch = format!("indra_eval_{}", Uuid::new_v4().simple());
    let mut url = url_with_database(database_url, &scratch)?;
    indra_db::create_database_if_missing(&url).await?;
    let result = async {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await?;
        indra_db::migrate(&pool).await?;
        let mut report = Report::default();
        let mut times = Vec::new();
        for case in &cases {
            let started = Instant::now();
            let result = match run_case(&pool, &settings, case).await {
                Ok(result) => result,
                Err(e) => indra_ai::eval::CaseResult {
                    id: case.id.clone(),
                    passed: false,
                    reasons: vec![format!("{e:#}")],
                    counts: Default::default(),
                },
            };
            times.push(started.elapsed());
            if args.timings {
                eprintln!("{}: {:?}", case.id, started.elapsed());
            }
            report.push(result);
        }
        pool.close().await;
        anyhow::Ok((report, times))
    }
    .await;
    url = url_with_database(database_url, "postgres")?;
    drop_database(&url, &scratch).await?;
    let (report, times) = result?;
    println!("{report}");
    let total: Duration = times.iter().sum();
    if let Some(max) = times.iter().max() {
        eprintln!(
            "runs: {} cases, mean {:.1} ms, max {:.1} ms (case setup, queue, loop and comparison)",
            times.len(),
            total.as_secs_f64() * 1000.0 / times.len() as f64,
            max.as_secs_f64() * 1000.0
        );
    }
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn url_with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let slash = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .context("DATABASE_URL names no database")?;
    let mut out = format!("{}/{database}", &base[..slash]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(&format!(r#"drop database if exists "{name}" with (force)"#))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// The case's world: an organization, its provider (a user), the patients with their
/// diagnoses and medications. Returns (org, user, provider, key -> patient id).
async fn set_up(
    pool: &PgPool,
    case: &Case,
) -> anyhow::Result<(Uuid, Uuid, Uuid, Vec<(String, Uuid)>)> {
    let mut tx = pool.begin().await?;
    sqlx::query("select set_config('role', 'service_role', true)")
        .execute(&mut *tx)
        .await?;
    let (org, user, provider) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    sqlx::query("insert into organizations (id, name, time_zone) values ($1, $2, $3)")
        .bind(org)
        .bind(format!("Eval {}", case.id))
        .bind(&case.timezone)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into users (id, org_id, email, full_name, role) values ($1, $2, $3, $4, 'provider')",
    )
    .bind(user)
    .bind(org)
    .bind(format!("provider-{}@eval.invalid", user.simple()))
    .bind(format!("{} {}", case.provider.first_name, case.provider.last_name))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into providers (id, org_id, user_id, first_name, last_name, credentials, npi, preferred_note_format)
         values ($1, $2, $3, $4, $5, $6, '1234567893', $7::note_format)",
    )
    .bind(provider)
    .bind(org)
    .bind(user)
    .bind(&case.provider.first_name)
    .bind(&case.provider.last_name)
    .bind(&case.provider.credentials)
    .bind(&case.provider.preferred_note_format)
    .execute(&mut *tx)
    .await?;
    let mut keys = Vec::new();
    for patient in &case.patients {
        let id = Uuid::new_v4();
        let born = patient
            .date_of_birth
            .map_or_else(|| "1985-06-15".to_owned(), |d| d.to_string());
        sqlx::query(
            "insert into patients (id, org_id, first_name, last_name, preferred_name, date_of_birth, primary_provider_id)
             values ($1, $2, $3, $4, $5, $6::date, $7)",
        )
        .bind(id)
        .bind(org)
        .bind(&patient.first_name)
        .bind(&patient.last_name)
        .bind(&patient.preferred_name)
        .bind(born)
        .bind(provider)
        .execute(&mut *tx)
        .await?;
        for diagnosis in &patient.diagnoses {
            sqlx::query(
                "insert into patient_diagnoses (org_id, patient_id, icd10_code, is_primary, diagnosed_on, diagnosed_by_provider_id)
                 values ($1, $2, $3, $4, date '2025-01-01', $5)",
            )
            .bind(org)
            .bind(id)
            .bind(&diagnosis.code)
            .bind(diagnosis.primary)
            .bind(provider)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("diagnosis {}", diagnosis.code))?;
        }
        for medication in &patient.medications {
            sqlx::query(
                "insert into medications (org_id, patient_id, prescriber_provider_id, name, dose, frequency, started_on)
                 values ($1, $2, $3, $4, $5, $6, date '2025-01-01')",
            )
            .bind(org)
            .bind(id)
            .bind(provider)
            .bind(&medication.name)
            .bind(&medication.dose)
            .bind(&medication.frequency)
            .execute(&mut *tx)
            .await?;
        }
        keys.push((patient.key.clone(), id));
    }
    tx.commit().await?;
    Ok((org, user, provider, keys))
}

/// Works the queue until the run stops (another case's run is never waiting: one at a time).
async fn drive(pool: &PgPool, settings: &AiSettings) -> anyhow::Result<()> {
    while worker::process_one(pool, settings).await?.is_some() {}
    Ok(())
}

async fn outcome(
    pool: &PgPool,
    org: Uuid,
    user: Uuid,
    run_id: Uuid,
) -> anyhow::Result<(RunOutcome, runs::RunView)> {
    let mut tx = pool.begin().await?;
    act_as(&mut tx, org, user).await?;
    let view = runs::get_run(&mut tx, run_id).await?;
    tx.commit().await?;
    let proposed: Vec<ProposedAction> = view.actions.iter().filter_map(|a| a.effective()).collect();
    let outcome = match view.status.as_str() {
        "ready_to_commit" => RunOutcome::Ready(proposed),
        "needs_clarification" => {
            let topic: ClarificationTopic = view
                .clarification
                .as_ref()
                .and_then(|c| {
                    serde_json::from_value(serde_json::Value::String(c.topic.clone())).ok()
                })
                .context("the run's question has no topic")?;
            RunOutcome::NeedsClarification { topic, proposed }
        }
        "failed" => RunOutcome::Failed(view.error.clone().unwrap_or_default()),
        other => RunOutcome::Failed(format!("the run stopped {other}")),
    };
    Ok((outcome, view))
}

async fn run_case(
    pool: &PgPool,
    settings: &AiSettings,
    case: &Case,
) -> anyhow::Result<indra_ai::eval::CaseResult> {
    let (org, user, provider, keys) = set_up(pool, case).await?;
    let zone = jiff::tz::TimeZone::get(&case.timezone)?;
    let clock = zone.to_timestamp(case.now)?;
    let clock = time::OffsetDateTime::from_unix_timestamp_nanos(clock.as_nanosecond())?;

    let mut tx = pool.begin().await?;
    act_as(&mut tx, org, user).await?;
    let run_id = runs::create_run(
        &mut tx,
        &NewRun {
            provider_id: provider,
            requested_by_user_id: user,
            patient_id: None,
            input_text: case.input.clone(),
            run_clock: Some(clock),
        },
    )
    .await?;
    tx.commit().await?;
    drive(pool, settings).await?;
    let (first, view) = outcome(pool, org, user, run_id).await?;

    let id_of_key = |key: &str| {
        keys.iter()
            .find(|(k, _)| k == key)
            .map(|(_, id)| id.to_string())
    };
    let key_of = |id: &str| {
        keys.iter()
            .find(|(_, i)| i.to_string() == id)
            .map(|(k, _)| k.clone())
    };
    let mut resumed = None;
    if let (RunOutcome::NeedsClarification { topic, .. }, Some(open)) =
        (&first, &view.clarification)
    {
        let offered = Clarification {
            topic: *topic,
            question: open.question.clone(),
            options: open.options.clone(),
            evidence: Vec::new(),
        };
        if let Some(answer) = case.answer(&offered, id_of_key) {
            let mut tx = pool.begin().await?;
            act_as(&mut tx, org, user).await?;
            runs::answer_clarification(
                &mut tx,
                run_id,
                &ClarificationAnswer {
                    option_id: answer.option_id,
                    text: answer.text,
                },
            )
            .await?;
            tx.commit().await?;
            drive(pool, settings).await?;
            resumed = Some(outcome(pool, org, user, run_id).await?.0);
        }
    }
    Ok(compare(case, &first, resumed.as_ref(), key_of))
}
