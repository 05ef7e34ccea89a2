//! The SQL of each read endpoint, as the server issues it for one request, written out as
//! pgbench scripts.
//!
//! Each statement here is copied from the server function named beside it, text for text (the
//! tests below find every one of them in that function's source file, so a change on either
//! side fails the build's tests until both agree). Column lists the server builds from its own
//! constants (`PATIENT_COLUMNS`, `DIAGNOSIS_COLUMNS`, `APPOINTMENT_COLUMNS`) are expanded from
//! those same constants; the claims list's private `SUMMARY_SELECT` is copied and checked the
//! same way.
//!
//! Three scripts per read scenario:
//! * `endpoint`: `begin`, `app.begin_request(...)`, the endpoint's statements, `commit`: what
//!   the server sends, compared with the API's throughput;
//! * `rls` and `service`: the same statements with an explicit organization filter added (so
//!   that, with row-level security bypassed, they still read one organization through the same
//!   `(org_id, ...)` indexes), after `set_config('request.jwt.claims', ..., true)` and `set local
//!   role authenticated` or `service_role`; the two scripts differ only in that role.
//!
//! The inputs vary as the API's do: each script holds the sampled inputs (callers, patients,
//! weeks ...) and each transaction first picks one at random (`\set n random(1, N)`, then one
//! `select ... \gset` of constants, a round trip that the API's requests do not make). The
//! statements then name the input by pgbench variables (`:patient`), which pgbench in prepared
//! mode sends as parameters, as the server's `$1` are: one prepared statement per connection,
//! re-planned like the server's. (One script per input would make pgbench prepare and plan every
//! statement of every script on every connection: with 50 such scripts the chart's SQL ran at
//! a quarter of its speed with one.) Values that never vary (limits, NULLs) stay literals.
//! No literal may contain `:name`, which pgbench would read as a variable (timestamps are
//! written `20270309T150000Z` for that reason).

use std::fmt::Write as _;

use anyhow::{Context, bail, ensure};
use uuid::Uuid;

use indra_server::clinical::patients::demographics::PATIENT_COLUMNS;
use indra_server::clinical::patients::diagnoses::DIAGNOSIS_COLUMNS;
use indra_server::clinical::scheduling::appointments::APPOINTMENT_COLUMNS;

/// One statement of an endpoint, as its server function writes it.
#[derive(Debug, Clone, Copy)]
pub struct Mirrored {
    /// The server function whose query this is (named in the scripts).
    pub function: &'static str,
    /// Its source file, under `crates/indra-server/src/`.
    pub source: &'static str,
    /// The statement as written there, `{CONSTANT}` placeholders included.
    pub template: &'static str,
    /// The same statement with the caller's organization stated (`$org`), for the RLS pair.
    pub with_org_filter: &'static str,
}

/// `app.begin_request`, as `Database::begin_as` opens every request.
pub const BEGIN_REQUEST: Mirrored = Mirrored {
    function: "indra_server::state::Database::begin_as",
    source: "state.rs",
    template: "select user_id, org_id, user_role from app.begin_request($1, $2, $3)",
    with_org_filter: "select user_id, org_id, user_role from app.begin_request($1, $2, $3)",
};

/// `GET /api/v1/patients?q=`.
pub const SEARCH: Mirrored = Mirrored {
    function: "indra_server::clinical::patients::search::search_patients",
    source: "clinical/patients/search.rs",
    template: "select id, mrn, first_name, last_name, preferred_name, date_of_birth, status::text as status,
                primary_provider_id, created_at, rank
           from app.search_patients($1, $2, $3, $4::int)",
    // Unused: the RLS pair runs the function's body (see `search_body_statement`).
    with_org_filter: "",
};

/// `GET /api/v1/patients/{id}/chart`: `load_chart`'s seven queries, in its order.
pub const CHART: [Mirrored; 7] = [
    Mirrored {
        function: "indra_server::clinical::patients::demographics::fetch_patient",
        source: "clinical/patients/demographics.rs",
        template: "select {PATIENT_COLUMNS} from patients where id = $1",
        with_org_filter: "select {PATIENT_COLUMNS} from patients where org_id = $org and id = $1",
    },
    Mirrored {
        function: "indra_server::clinical::patients::chart::load_chart (diagnoses)",
        source: "clinical/patients/chart.rs",
        template: "select {DIAGNOSIS_COLUMNS} from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code
          where d.patient_id = $1 and d.status = 'active'
          order by d.is_primary desc, d.diagnosed_on, d.created_at",
        with_org_filter: "select {DIAGNOSIS_COLUMNS} from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code
          where d.org_id = $org and d.patient_id = $1 and d.status = 'active'
          order by d.is_primary desc, d.diagnosed_on, d.created_at",
    },
    Mirrored {
        function: "indra_server::clinical::patients::chart::load_chart (medications)",
        source: "clinical/patients/chart.rs",
        template: "select id, name, dose, route, frequency, instructions, started_on, prescriber_provider_id
           from medications where patient_id = $1 and status = 'active'
          order by started_on, name",
        with_org_filter: "select id, name, dose, route, frequency, instructions, started_on, prescriber_provider_id
           from medications where org_id = $org and patient_id = $1 and status = 'active'
          order by started_on, name",
    },
    Mirrored {
        function: "indra_server::clinical::patients::chart::load_chart (upcoming appointments)",
        source: "clinical/patients/chart.rs",
        template: "select a.id, a.starts_at, a.ends_at, a.appointment_type::text as appointment_type,
                a.modality::text as modality, a.location, a.provider_id,
                p.first_name || ' ' || p.last_name || ', ' || p.credentials as provider_name
           from appointments a join providers p on p.org_id = a.org_id and p.id = a.provider_id
          where a.patient_id = $1 and a.status = 'scheduled' and a.starts_at >= now()
          order by a.starts_at limit $2",
        with_org_filter: "select a.id, a.starts_at, a.ends_at, a.appointment_type::text as appointment_type,
                a.modality::text as modality, a.location, a.provider_id,
                p.first_name || ' ' || p.last_name || ', ' || p.credentials as provider_name
           from appointments a join providers p on p.org_id = a.org_id and p.id = a.provider_id
          where a.org_id = $org and a.patient_id = $1 and a.status = 'scheduled' and a.starts_at >= now()
          order by a.starts_at limit $2",
    },
    Mirrored {
        function: "indra_server::clinical::patients::chart::load_chart (recent encounters)",
        source: "clinical/patients/chart.rs",
        template: "select e.id, e.encounter_type::text as encounter_type, e.modality::text as modality,
                e.status::text as status, e.started_at, e.ended_at, e.duration_minutes, e.provider_id,
                p.first_name || ' ' || p.last_name || ', ' || p.credentials as provider_name,
                n.id as note_id, n.status::text as note_status, n.version as note_version,
                n.signed_at as note_signed_at
           from encounters e
           join providers p on p.org_id = e.org_id and p.id = e.provider_id
           left join lateral (
               select s.id, s.status, s.version, s.signed_at from clinical_note_statuses s
                where s.encounter_id = e.id and s.is_current
                order by s.version desc limit 1) n on true
          where e.patient_id = $1
          order by coalesce(e.started_at, e.scheduled_start, e.created_at) desc, e.id
          limit $2",
        with_org_filter: "select e.id, e.encounter_type::text as encounter_type, e.modality::text as modality,
                e.status::text as status, e.started_at, e.ended_at, e.duration_minutes, e.provider_id,
                p.first_name || ' ' || p.last_name || ', ' || p.credentials as provider_name,
                n.id as note_id, n.status::text as note_status, n.version as note_version,
                n.signed_at as note_signed_at
           from encounters e
           join providers p on p.org_id = e.org_id and p.id = e.provider_id
           left join lateral (
               select s.id, s.status, s.version, s.signed_at from clinical_note_statuses s
                where s.encounter_id = e.id and s.is_current
                order by s.version desc limit 1) n on true
          where e.org_id = $org and e.patient_id = $1
          order by coalesce(e.started_at, e.scheduled_start, e.created_at) desc, e.id
          limit $2",
    },
    Mirrored {
        function: "indra_server::clinical::patients::chart::load_chart (treatment plan)",
        source: "clinical/patients/chart.rs",
        template: "select id, version, status::text as status, effective_on, review_due_on,
                review_due_on <= current_date as review_due
           from treatment_plans where patient_id = $1 and is_current
          order by effective_on desc, created_at desc limit 1",
        with_org_filter: "select id, version, status::text as status, effective_on, review_due_on,
                review_due_on <= current_date as review_due
           from treatment_plans where org_id = $org and patient_id = $1 and is_current
          order by effective_on desc, created_at desc limit 1",
    },
    Mirrored {
        function: "indra_server::clinical::patients::chart::load_chart (insurance)",
        source: "clinical/patients/chart.rs",
        template: "select i.id, i.priority::text as priority, p.name as payer_name, i.member_id, i.authorization_number,
                i.authorization_end, i.authorized_sessions, i.sessions_used,
                case when i.authorized_sessions > 0
                     then round(100.0 * i.sessions_used / i.authorized_sessions)::int end as sessions_used_percent
           from patient_insurance i
           join insurance_payers p on p.org_id = i.org_id and p.id = i.insurance_payer_id
          where i.patient_id = $1 and i.is_active
          order by i.priority",
        with_org_filter: "select i.id, i.priority::text as priority, p.name as payer_name, i.member_id, i.authorization_number,
                i.authorization_end, i.authorized_sessions, i.sessions_used,
                case when i.authorized_sessions > 0
                     then round(100.0 * i.sessions_used / i.authorized_sessions)::int end as sessions_used_percent
           from patient_insurance i
           join insurance_payers p on p.org_id = i.org_id and p.id = i.insurance_payer_id
          where i.org_id = $org and i.patient_id = $1 and i.is_active
          order by i.priority",
    },
];

/// `GET /api/v1/providers/{id}/calendar?days=7`: `provider_calendar`'s queries in its order
/// (it reads the practice's time zone twice: once itself, once through `practice_zone`).
pub const WEEK: [Mirrored; 4] = [
    Mirrored {
        function: "indra_server::clinical::scheduling::calendar::provider_calendar (provider exists)",
        source: "clinical/scheduling/calendar.rs",
        template: "select exists (select 1 from providers where id = $1)",
        with_org_filter: "select exists (select 1 from providers where org_id = $org and id = $1)",
    },
    Mirrored {
        function: "indra_server::clinical::scheduling::calendar::provider_calendar (time zone)",
        source: "clinical/scheduling/calendar.rs",
        template: "select time_zone from organizations where id = $1",
        with_org_filter: "select time_zone from organizations where id = $1",
    },
    Mirrored {
        function: "indra_server::clinical::scheduling::appointments::practice_zone",
        source: "clinical/scheduling/appointments.rs",
        template: "select time_zone from organizations where id = $1",
        with_org_filter: "select time_zone from organizations where id = $1",
    },
    Mirrored {
        function: "indra_server::clinical::scheduling::calendar::provider_calendar (appointments)",
        source: "clinical/scheduling/calendar.rs",
        template: "select {APPOINTMENT_COLUMNS} from appointments
          where provider_id = $1 and starts_at >= $2 and starts_at < $3
          order by starts_at, id",
        with_org_filter: "select {APPOINTMENT_COLUMNS} from appointments
          where org_id = $org and provider_id = $1 and starts_at >= $2 and starts_at < $3
          order by starts_at, id",
    },
];

/// `GET /api/v1/claims?status=` (the first page of one status): `list_claims` builds its
/// statement from the conditions asked for (a query builder); for a status alone it is this.
/// The tests find the builder's pieces in its source (`CLAIMS_PIECES`).
pub const CLAIMS: Mirrored = Mirrored {
    function: "indra_server::billing::claims::list_claims",
    source: "billing/claims.rs",
    template: "{SUMMARY_SELECT} where true and c.status = $1 order by c.created_at, c.id limit $2",
    with_org_filter: "{SUMMARY_SELECT} where c.org_id = $org and true and c.status = $1 order by c.created_at, c.id limit $2",
};

/// `indra_server::billing::claims`'s private `SUMMARY_SELECT`, copied (the tests check it).
pub const SUMMARY_SELECT: &str = "select c.id, c.claim_number, c.status, c.patient_id,
            p.first_name || ' ' || p.last_name as patient_name, py.name as payer_name,
            c.rendering_provider_id, c.total_charge::text as total_charge,
            (select min(l.service_date) from claim_line_items l
              where l.org_id = c.org_id and l.claim_id = c.id) as first_service_date,
            c.created_at, c.updated_at
       from billing_claims c
       join patients p on p.org_id = c.org_id and p.id = c.patient_id
       join patient_insurance pi on pi.org_id = c.org_id and pi.id = c.patient_insurance_id
       join insurance_payers py on py.org_id = pi.org_id and py.id = pi.insurance_payer_id";

/// A statement's template with the server's column constants put in.
pub fn expand(template: &str) -> String {
    template
        .replace("{PATIENT_COLUMNS}", PATIENT_COLUMNS)
        .replace("{DIAGNOSIS_COLUMNS}", DIAGNOSIS_COLUMNS)
        .replace("{APPOINTMENT_COLUMNS}", APPOINTMENT_COLUMNS)
        .replace("{SUMMARY_SELECT}", SUMMARY_SELECT)
}

/// A constant bound to a statement, as the server binds it (the type is the bound Rust type's).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    BigInt(i64),
    /// NULL of a type (`Option::None` bound).
    Null(&'static str),
}

impl Literal {
    /// The typed SQL literal.
    pub fn sql(&self) -> String {
        match self {
            Literal::Text(text) => format!("{}::text", quote(text)),
            Literal::BigInt(n) => format!("{n}::int8"),
            Literal::Null(type_name) => format!("null::{type_name}"),
        }
    }
}

/// What a statement's `$n` becomes in a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// The same for every request of the scenario.
    Constant(Literal),
    /// The input's value: a pgbench variable, set per transaction.
    Input(&'static str),
}

/// `text` as a standard SQL string literal.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Unix seconds as a timestamp PostgreSQL reads and pgbench does not take for variables
/// (`20270309T150000Z`: no colons).
pub fn timestamp_text(unix: i64) -> anyhow::Result<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(unix)
        .with_context(|| format!("{unix} is not a time"))?;
    Ok(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    ))
}

/// Words as a text array's literal (`{kettring,mari}`), the value of a `text[]` parameter.
pub fn text_array(words: &[String]) -> String {
    format!("{{{}}}", words.join(","))
}

fn render(param: &Param) -> String {
    match param {
        Param::Constant(literal) => literal.sql(),
        Param::Input(name) => format!(":{name}"),
    }
}

/// `sql` with each `$n` replaced by `params[n - 1]` and `$org` by `org`. Every placeholder must
/// have a value.
pub fn bind(sql: &str, params: &[Param], org: Option<&Param>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix("org") {
            let org = org.context("the statement names $org but no organization was given")?;
            out.push_str(&render(org));
            rest = tail;
            continue;
        }
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        ensure!(digits > 0, "a lone $ in {sql:?}");
        let n: usize = after[..digits].parse()?;
        let value = params
            .get(n.wrapping_sub(1))
            .with_context(|| format!("${n} has no value ({} given)", params.len()))?;
        out.push_str(&render(value));
        rest = &after[digits..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The variables pgbench sees in a script (`:name`, not `::`), in order.
pub fn pgbench_variables(script: &str) -> Vec<String> {
    let bytes = script.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b':' {
            i += 1;
            continue;
        }
        let name: String = script[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            i += 1 + name.len();
            found.push(name);
            continue;
        }
        // Like pgbench: a run of colons (a cast) is skipped whole.
        while i < bytes.len() && bytes[i] == b':' {
            i += 1;
        }
    }
    found
}

/// One statement of a script, bound, with the function it mirrors.
#[derive(Debug, Clone)]
pub struct Bound {
    pub function: &'static str,
    /// Its source file, from the workspace's root.
    pub source: String,
    pub sql: String,
}

/// How a script sets up its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// As the server: `app.begin_request(:auth_id, request id, statement timeout)`.
    BeginRequest,
    /// The caller's claims (`:claims`) set by hand, then `set local role authenticated`: under
    /// RLS.
    Authenticated,
    /// The same claims, then `set local role service_role`: RLS bypassed.
    ServiceRole,
}

impl Setup {
    pub fn name(self) -> &'static str {
        match self {
            Setup::BeginRequest => "endpoint",
            Setup::Authenticated => "rls",
            Setup::ServiceRole => "service",
        }
    }
}

/// The request id the scripts pass to `app.begin_request` (the server passes its own, a
/// random id of about this length; no colons, which pgbench would read).
pub const SCRIPT_REQUEST_ID: &str = "pgbench-0000000000000000";

/// The claims `app.begin_request` sets for a caller, as JSON text (compact: no `: `).
pub fn claims_json(auth_id: Uuid, org_id: Uuid, user_role: &str) -> String {
    serde_json::json!({
        "sub": auth_id,
        "role": "authenticated",
        "org_id": org_id,
        "user_role": user_role,
    })
    .to_string()
}

/// The inputs a script draws from: each a description (the API request it stands for) and the
/// value of every variable. Every input has the caller's `auth_id`, `claims` and `org`.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub names: Vec<&'static str>,
    pub rows: Vec<(String, Vec<String>)>,
}

impl Inputs {
    pub fn new(names: &[&'static str]) -> Self {
        Self {
            names: names.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, request: String, values: Vec<String>) -> anyhow::Result<()> {
        ensure!(
            values.len() == self.names.len(),
            "{} values for {} variables",
            values.len(),
            self.names.len()
        );
        self.rows.push((request, values));
        Ok(())
    }
}

/// A pgbench script: pick an input, open one transaction as its caller the `setup` way, run
/// `statements`, commit. Every statement is preceded by the server function it mirrors.
pub fn script(
    title: &str,
    setup: Setup,
    statement_timeout: &str,
    prelude: &[String],
    statements: &[Bound],
    inputs: &Inputs,
) -> anyhow::Result<String> {
    ensure!(!inputs.rows.is_empty(), "no inputs");
    let mut out = String::new();
    let _ = writeln!(out, "-- {title}");
    let _ = writeln!(
        out,
        "-- {} (written by `indra bench http`; run with pgbench -M prepared -f)",
        match setup {
            Setup::BeginRequest => "as the server runs it for one request",
            Setup::Authenticated => "as `authenticated` with the caller's claims (under RLS)",
            Setup::ServiceRole => "as `service_role` with the same claims (RLS bypassed)",
        }
    );
    let _ = writeln!(
        out,
        "-- Each transaction stands for one of these {} requests, picked at random:",
        inputs.rows.len()
    );
    for (i, (request, _)) in inputs.rows.iter().enumerate() {
        let _ = writeln!(out, "--   {}: {}", i + 1, request.replace(':', " "));
    }
    let _ = writeln!(out, "\\set n random(1, {})", inputs.rows.len());
    let columns: Vec<String> = inputs
        .names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let values: Vec<String> = inputs.rows.iter().map(|(_, v)| quote(&v[k])).collect();
            format!("(array[{}]::text[])[:n] as {name}", values.join(", "))
        })
        .collect();
    let _ = writeln!(out, "select {} \\gset", columns.join(",\n       "));
    out.push_str("begin;\n");
    match setup {
        Setup::BeginRequest => {
            let _ = writeln!(
                out,
                "-- mirrors {} (crates/indra-server/src/{})",
                BEGIN_REQUEST.function, BEGIN_REQUEST.source
            );
            let sql = bind(
                BEGIN_REQUEST.template,
                &[
                    Param::Input("auth_id"),
                    Param::Constant(Literal::Text(SCRIPT_REQUEST_ID.to_owned())),
                    Param::Constant(Literal::Text(statement_timeout.to_owned())),
                ],
                None,
            )?;
            let _ = writeln!(out, "{sql};");
        }
        Setup::Authenticated | Setup::ServiceRole => {
            out.push_str("select set_config('request.jwt.claims', :claims, true);\n");
            let role = if setup == Setup::Authenticated {
                "authenticated"
            } else {
                "service_role"
            };
            let _ = writeln!(out, "set local role {role};");
        }
    }
    for line in prelude {
        let _ = writeln!(out, "{line};");
    }
    for statement in statements {
        let _ = writeln!(
            out,
            "-- mirrors {} ({})",
            statement.function, statement.source
        );
        let _ = writeln!(out, "{};", statement.sql.trim());
    }
    out.push_str("commit;\n");
    let code: String = out
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for name in pgbench_variables(&code) {
        if name != "n" && !inputs.names.contains(&name.as_str()) {
            bail!("the script for {title} has `:{name}`, which pgbench would read as a variable");
        }
    }
    Ok(out)
}

/// The statement of `mirrored` bound to `params`: as the endpoint writes it, or with the
/// organization filter (`:org`) for the RLS pair.
pub fn bound(mirrored: &Mirrored, params: &[Param], org_filter: bool) -> anyhow::Result<Bound> {
    let template = if org_filter {
        mirrored.with_org_filter
    } else {
        mirrored.template
    };
    ensure!(
        !template.is_empty(),
        "{} has no organization-filtered form",
        mirrored.function
    );
    Ok(Bound {
        function: mirrored.function,
        source: format!("crates/indra-server/src/{}", mirrored.source),
        sql: bind(&expand(template), params, Some(&Param::Input("org")))?,
    })
}

/// The body of `app.search_patients` (as `pg_proc.prosrc` holds it) as a plain statement with
/// the call's arguments in place of its parameters (the words as `:words`): what the function
/// runs, so that the RLS pair can run it as either role (the function itself is SECURITY
/// DEFINER, runs as its owner whoever calls it, and may be executed by `authenticated` only).
/// It states the organization itself (`p.org_id = (select app.org_id())`), from the claims both
/// scripts set.
pub fn search_body_statement(body: &str, limit: i64) -> anyhow::Result<Bound> {
    ensure!(
        body.contains("name_words") && body.contains("max_rows"),
        "the body of app.search_patients no longer names its parameters name_words/max_rows"
    );
    let sql = body
        .replace("name_words", "(:words::text[])")
        .replace("born_on", "(null::date)")
        .replace("mrn_prefix", "(null::text)")
        .replace("max_rows", &format!("({limit})::int"));
    Ok(Bound {
        function: "app.search_patients, the body of the function that indra_server::clinical::patients::search::search_patients calls",
        source: "migrations/0012_patient_search.sql".into(),
        sql,
    })
}

/// The setting `app.search_patients` runs with (`set pg_trgm.word_similarity_threshold = 0.5`
/// in its definition), for scripts that run its body.
pub const SEARCH_THRESHOLD: &str = "set local pg_trgm.word_similarity_threshold = 0.5";

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's source files the statements are copied from.
    fn server_source(file: &str) -> &'static str {
        match file {
            "state.rs" => include_str!("../../../indra-server/src/state.rs"),
            "clinical/patients/search.rs" => {
                include_str!("../../../indra-server/src/clinical/patients/search.rs")
            }
            "clinical/patients/demographics.rs" => {
                include_str!("../../../indra-server/src/clinical/patients/demographics.rs")
            }
            "clinical/patients/chart.rs" => {
                include_str!("../../../indra-server/src/clinical/patients/chart.rs")
            }
            "clinical/scheduling/calendar.rs" => {
                include_str!("../../../indra-server/src/clinical/scheduling/calendar.rs")
            }
            "clinical/scheduling/appointments.rs" => {
                include_str!("../../../indra-server/src/clinical/scheduling/appointments.rs")
            }
            "billing/claims.rs" => include_str!("../../../indra-server/src/billing/claims.rs"),
            other => panic!("no source {other}"),
        }
    }

    /// How `list_claims` builds the statement `CLAIMS` mirrors, as its source writes it.
    const CLAIMS_PIECES: [&str; 4] = [
        "QueryBuilder::<sqlx::Postgres>::new(SUMMARY_SELECT)",
        "sql.push(\" where true\");",
        "if let Some(status) = query.status { sql.push(\" and c.status = \").push_bind(status); }",
        "sql.push(\" order by c.created_at, c.id limit \") .push_bind(i64::from(limit) + 1);",
    ];

    fn words(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn every_mirrored() -> Vec<Mirrored> {
        let mut all = vec![BEGIN_REQUEST, SEARCH, CLAIMS];
        all.extend(CHART);
        all.extend(WEEK);
        all
    }

    #[test]
    fn every_statement_is_the_servers_own_text() {
        for mirrored in every_mirrored() {
            let source = words(server_source(mirrored.source));
            if mirrored.function == CLAIMS.function {
                for piece in CLAIMS_PIECES {
                    assert!(
                        source.contains(&words(piece)),
                        "{} no longer builds its statement with {piece:?} ({})",
                        mirrored.function,
                        mirrored.source
                    );
                }
                continue;
            }
            assert!(
                source.contains(&words(mirrored.template)),
                "{} no longer has this statement (copy it again from {}):\n{}",
                mirrored.function,
                mirrored.source,
                mirrored.template
            );
        }
        let claims = words(server_source("billing/claims.rs"));
        assert!(
            claims.contains(&format!(
                "const SUMMARY_SELECT: &str = \"{}\";",
                words(SUMMARY_SELECT)
            )),
            "billing/claims.rs has another SUMMARY_SELECT"
        );
    }

    #[test]
    fn a_changed_statement_is_noticed() {
        // The check above must be able to fail: a statement the server does not have.
        let source = words(server_source("clinical/patients/chart.rs"));
        let altered = CHART[2]
            .template
            .replace("status = 'active'", "status <> 'active'");
        assert!(!source.contains(&words(&altered)));
    }

    /// The organization-filtered form is the endpoint's statement plus `<alias.>org_id = $org
    /// and`, nothing else: the RLS pair measures the endpoint's SQL.
    #[test]
    fn the_org_filter_is_the_only_difference() {
        for mirrored in every_mirrored() {
            if mirrored.with_org_filter.is_empty() {
                continue;
            }
            let mut stripped = mirrored.with_org_filter.to_owned();
            // Aliased first: the bare form is the tail of each aliased one.
            for alias in ["a.", "c.", "d.", "e.", "i.", ""] {
                stripped = stripped.replace(&format!("{alias}org_id = $org and "), "");
            }
            assert_eq!(
                words(&stripped),
                words(mirrored.template),
                "{}",
                mirrored.function
            );
        }
    }

    #[test]
    fn expanded_statements_carry_the_server_columns() {
        let chart = expand(CHART[0].template);
        assert!(chart.starts_with("select id, mrn, first_name"), "{chart}");
        assert!(!chart.contains('{'));
        let claims = expand(CLAIMS.template);
        assert!(
            claims.starts_with("select c.id, c.claim_number"),
            "{claims}"
        );
    }

    #[test]
    fn placeholders_become_literals_and_variables() {
        let sql = bind(
            "select $1, $2, $10, $org, $3 where x = $1",
            &[
                Param::Input("patient"),
                Param::Constant(Literal::Text("O'Brien".into())),
                Param::Constant(Literal::Null("date")),
                Param::Constant(Literal::BigInt(4)),
                Param::Constant(Literal::BigInt(5)),
                Param::Constant(Literal::BigInt(6)),
                Param::Constant(Literal::BigInt(7)),
                Param::Constant(Literal::BigInt(8)),
                Param::Constant(Literal::BigInt(9)),
                Param::Input("status"),
            ],
            Some(&Param::Input("org")),
        )
        .unwrap();
        assert_eq!(
            sql,
            "select :patient, 'O''Brien'::text, :status, :org, null::date where x = :patient"
        );
        assert!(bind("select $2", &[Param::Input("a")], None).is_err());
        assert!(bind("select $org", &[], None).is_err());
        assert!(bind("select $", &[], None).is_err());
    }

    #[test]
    fn timestamps_have_no_colons() {
        // 2027-03-09 15:00:00 UTC
        assert_eq!(timestamp_text(1_804_604_400).unwrap(), "20270309T150000Z");
        assert_eq!(
            text_array(&["kettring".into(), "mari".into()]),
            "{kettring,mari}"
        );
    }

    #[test]
    fn pgbench_variables_are_found_and_casts_are_not() {
        assert!(pgbench_variables("select 1::int, x::text[]").is_empty());
        assert_eq!(pgbench_variables("select '15:00:00'::time"), ["00", "00"]);
        assert_eq!(
            pgbench_variables("select :aid, (:words::text[])"),
            ["aid", "words"]
        );
        // JSON of strings is safe; a number after a colon is a variable to pgbench.
        assert!(pgbench_variables(r#"select '{"a":"b","c":"d"}'"#).is_empty());
        assert_eq!(pgbench_variables(r#"select '{"c":1}'"#), ["1"]);
    }

    fn inputs() -> Inputs {
        let mut inputs = Inputs::new(&["auth_id", "claims", "org", "patient"]);
        for i in 1..=3u128 {
            let (auth, org) = (Uuid::from_u128(i), Uuid::from_u128(100));
            inputs
                .push(
                    format!("GET /api/v1/patients/{i}/chart as clinician{i}@org001.example"),
                    vec![
                        auth.to_string(),
                        claims_json(auth, org, "provider"),
                        org.to_string(),
                        Uuid::from_u128(1000 + i).to_string(),
                    ],
                )
                .unwrap();
        }
        inputs
    }

    fn chart(org_filter: bool) -> Vec<Bound> {
        CHART
            .iter()
            .map(|m| {
                bound(
                    m,
                    &[Param::Input("patient"), Param::Constant(Literal::BigInt(5))],
                    org_filter,
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_rls_pair_differs_only_in_the_role() {
        let rls = script(
            "chart",
            Setup::Authenticated,
            "5000ms",
            &[],
            &chart(true),
            &inputs(),
        )
        .unwrap();
        let service = script(
            "chart",
            Setup::ServiceRole,
            "5000ms",
            &[],
            &chart(true),
            &inputs(),
        )
        .unwrap();
        let differing: Vec<(&str, &str)> = rls
            .lines()
            .zip(service.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(differing.len(), 2, "{differing:?}"); // the comment and the role
        assert!(rls.contains("set local role authenticated;"));
        assert!(service.contains("set local role service_role;"));
        assert!(rls.contains("select set_config('request.jwt.claims', :claims, true);"));
        assert!(rls.contains("where org_id = :org and id = :patient;"));
        assert_eq!(rls.matches("-- mirrors ").count(), 7);
    }

    #[test]
    fn each_transaction_picks_an_input_then_runs_the_servers_statements() {
        let text = script(
            "chart",
            Setup::BeginRequest,
            "5000ms",
            &[],
            &chart(false),
            &inputs(),
        )
        .unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("--")).collect();
        assert_eq!(lines[0], "\\set n random(1, 3)");
        assert!(
            lines[1].starts_with(&format!(
                "select (array['{}', '{}', '{}']::text[])[:n] as auth_id,",
                Uuid::from_u128(1),
                Uuid::from_u128(2),
                Uuid::from_u128(3)
            )),
            "{}",
            lines[1]
        );
        assert!(
            text.contains("(array['{\"org_id\""),
            "the claims are quoted JSON"
        );
        assert!(text.contains("[:n] as patient \\gset\nbegin;\n"));
        assert!(text.contains(&format!(
            "select user_id, org_id, user_role from app.begin_request(:auth_id, '{SCRIPT_REQUEST_ID}'::text, '5000ms'::text);"
        )));
        assert!(text.contains("from patients where id = :patient;"));
        assert!(text.contains("limit 5::int8;"));
        assert!(text.ends_with("commit;\n"));
        assert!(!text.contains("$org") && !text.contains(":org"));
        assert!(text.contains("--   2: GET /api/v1/patients/2/chart as clinician2@org001.example"));
    }

    #[test]
    fn a_stray_pgbench_variable_is_refused() {
        let statement = Bound {
            function: "test",
            source: "test.rs".into(),
            sql: "select '10:30'::time".into(),
        };
        assert!(script("x", Setup::BeginRequest, "5s", &[], &[statement], &inputs()).is_err());
        assert!(
            script(
                "x",
                Setup::BeginRequest,
                "5s",
                &[],
                &[],
                &Inputs::new(&["a"])
            )
            .is_err()
        );
    }

    #[test]
    fn the_search_body_gets_the_calls_arguments() {
        let body = "select * from patients p where p.org_id = (select app.org_id())
            and (name_words[1] <% p.last_name) and born_on is null and mrn_prefix <> ''
            limit least(greatest(max_rows, 1), 200)";
        let statement = search_body_statement(body, 50).unwrap();
        assert!(
            statement
                .sql
                .contains("((:words::text[])[1] <% p.last_name)"),
            "{}",
            statement.sql
        );
        assert!(statement.sql.contains("greatest((50)::int, 1)"));
        assert!(statement.sql.contains("(null::date) is null"));
        assert!(search_body_statement("select 1", 50).is_err());
    }
}
