//! The server behind PgBouncer in transaction mode (docs/scaling.md): many requests of two
//! practices share two PostgreSQL connections, each request still sees only its own practice,
//! a write is audited with the person who made it, and nothing a request set (role, claims)
//! is left on a connection for the next one.
//!
//! PgBouncer comes from Debian's packages (1.18, which does not track named prepared
//! statements in transaction mode; scripts/test installs it when it can). It is started with
//! deploy/pgbouncer/pgbouncer.ini, so the example a deployment copies is the one tested. The
//! tests fail when `pgbouncer` is missing, unless `INDRA_SKIP_POOLER_TESTS=1`. PgBouncer refuses
//! to run as root: as root (CI) it is run as the `postgres` user.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::{JWT_SECRET, TestApp};
use indra_db::testing::TestDb;
use indra_server::config::Config;
use indra_server::state::AppState;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Row};
use uuid::Uuid;

/// The example configuration the tests run.
const EXAMPLE_INI: &str = include_str!("../../../deploy/pgbouncer/pgbouncer.ini");

/// Server connections PgBouncer may open to the test database: fewer than the server's own
/// pool (`Config::for_tests`: 8) and far fewer than the requests in flight.
const SERVER_CONNECTIONS: usize = 2;

/// Requests in flight at once.
const CLIENTS: usize = 32;

/// Each client's rounds of three requests (list, a chart of its practice, one of the other's).
const ROUNDS: usize = 6;

/// The database name clients ask PgBouncer for.
const POOLED_DATABASE: &str = "indra";

/// What the server's `DATABASE_URL` says when it goes through the pooler.
const POOLER_URL_SETTINGS: &str = "statement-cache-capacity=0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_through_the_pooler_stay_in_their_practice() {
    let Some(pgbouncer) = pgbouncer_binary() else {
        return;
    };
    let db = TestDb::with_demo(2).await.unwrap();
    let pooler = Pooler::start(&pgbouncer, &db, SERVER_CONNECTIONS, &[]);

    // The server as deployed: its pool connects through PgBouncer as indra_app, configured by
    // nothing but the URL.
    let url = pooler.url("indra_app", POOLER_URL_SETTINGS);
    let state = AppState::new(Config::for_tests(url, JWT_SECRET))
        .await
        .unwrap();
    let router = indra_server::app(state.clone());
    let app = Arc::new(TestApp { db, router, state });

    let ready = app.call(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);

    // Who asks: three people of each practice.
    let orgs: Vec<Uuid> = sqlx::query_scalar("select id from organizations order by name")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    let mut people = Vec::new();
    for (org_index, &org_id) in orgs.iter().enumerate() {
        for role in ["admin", "provider", "staff"] {
            let email = app.email_of(org_index, role).await;
            let user_id: Uuid = sqlx::query_scalar("select id from users where email = $1")
                .bind(&email)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
            people.push(Person {
                org_id,
                user_id,
                token: app.sign_in(&email).await,
            });
        }
    }
    let patients_of = |org_id: Uuid| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>("select id from patients where org_id = $1")
                .bind(org_id)
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    let practices = Arc::new(vec![
        (orgs[0], patients_of(orgs[0]).await),
        (orgs[1], patients_of(orgs[1]).await),
    ]);
    assert!(practices.iter().all(|(_, patients)| !patients.is_empty()));

    // Watch how many PostgreSQL connections the pooler uses while the requests run.
    let started = Instant::now();
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = tokio::spawn({
        let (pool, name, watching) = (app.db.pool.clone(), app.db.name.clone(), watching.clone());
        async move {
            let mut most = 0_i64;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let open: i64 = sqlx::query_scalar(
                    "select count(*) from pg_stat_activity where datname = $1 and usename = 'indra_app'",
                )
                .bind(&name)
                .fetch_one(&pool)
                .await
                .unwrap();
                most = most.max(open);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            most
        }
    });

    // Many requests at once from both practices; two of the clients also register a patient.
    let people = Arc::new(people);
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (app, people, practices) = (app.clone(), people.clone(), practices.clone());
        clients.spawn(async move {
            let person = &people[client % people.len()];
            let (own, other) = if practices[0].0 == person.org_id {
                (&practices[0].1, &practices[1].1)
            } else {
                (&practices[1].1, &practices[0].1)
            };
            let (mut registered, mut registered_meanwhile) = (None, Vec::new());
            for round in 0..ROUNDS {
                let listed = app
                    .get("/api/v1/patients?limit=50", &person.token)
                    .await;
                assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
                let items = listed.body["items"].as_array().unwrap();
                assert!(!items.is_empty(), "client {client} saw no patients");
                for item in items {
                    let id: Uuid = item["id"].as_str().unwrap().parse().unwrap();
                    assert!(
                        !other.contains(&id),
                        "client {client} of {} was shown patient {id} of another practice",
                        person.org_id
                    );
                    if !own.contains(&id) {
                        // Registered by another client during the run: checked below.
                        registered_meanwhile.push((id, person.org_id));
                    }
                }
                let mine = own[(client + round) % own.len()];
                let chart = app
                    .get(&format!("/api/v1/patients/{mine}"), &person.token)
                    .await;
                assert_eq!(chart.status, StatusCode::OK, "{:?}", chart.body);
                let theirs = other[(client + round) % other.len()];
                let refused = app
                    .get(&format!("/api/v1/patients/{theirs}"), &person.token)
                    .await;
                assert_eq!(
                    refused.status,
                    StatusCode::NOT_FOUND,
                    "client {client} reached another practice's patient: {:?}",
                    refused.body
                );
                // One member of each practice's staff registers a patient.
                if (client == 2 || client == 5) && round == 3 {
                    let created = app
                        .call(
                            Method::POST,
                            "/api/v1/patients",
                            Some(&person.token),
                            Some(json!({"first_name": "Pooled", "last_name": format!("Client{client}"),
                                        "date_of_birth": format!("1990-01-{:02}", client + 1)})),
                            &[],
                        )
                        .await;
                    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
                    let id: Uuid = created.body["id"].as_str().unwrap().parse().unwrap();
                    registered = Some((id, person.org_id, person.user_id));
                }
            }
            (registered, registered_meanwhile)
        });
    }
    let (mut registered, mut registered_meanwhile) = (Vec::new(), Vec::new());
    while let Some(done) = clients.join_next().await {
        let (mine, seen) = done.unwrap();
        registered.extend(mine);
        registered_meanwhile.extend(seen);
    }
    let elapsed = started.elapsed();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let most_server_connections = watcher.await.unwrap();

    // More clients than server connections: the server's pool opened more connections to the
    // pooler than the pooler opened to PostgreSQL.
    assert!(
        (1..=SERVER_CONNECTIONS as i64).contains(&most_server_connections),
        "PgBouncer used {most_server_connections} PostgreSQL connections (its pool is {SERVER_CONNECTIONS})"
    );
    let metrics = app.call(Method::GET, "/metrics", None, None, &[]).await;
    let client_connections = metric(&metrics.body, "indra_db_pool_connections{state=\"open\"}");
    eprintln!(
        "{} requests from {CLIENTS} clients in {:.2} s, over {client_connections} connections to \
         PgBouncer and at most {most_server_connections} from it to PostgreSQL",
        CLIENTS * ROUNDS * 3 + 2,
        elapsed.as_secs_f64()
    );
    assert!(
        client_connections > SERVER_CONNECTIONS,
        "the server kept {client_connections} connections to the pooler; the test needs more than {SERVER_CONNECTIONS}"
    );

    // A patient registered during the run was shown only to its own practice.
    for (patient_id, shown_to) in registered_meanwhile {
        assert!(
            registered
                .iter()
                .any(|(id, org_id, _)| *id == patient_id && *org_id == shown_to),
            "patient {patient_id} was shown to {shown_to} but not registered there"
        );
    }

    // Each write is in its practice's audit trail under the person who made it.
    assert_eq!(registered.len(), 2);
    assert_ne!(
        registered[0].1, registered[1].1,
        "one registration per practice"
    );
    for (patient_id, org_id, user_id) in registered {
        let row = sqlx::query(
            "select org_id, actor_user_id, actor_role, request_id from audit_log
              where table_name = 'patients' and record_id = $1 and action = 'INSERT'",
        )
        .bind(patient_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert_eq!(row.get::<Uuid, _>("org_id"), org_id);
        assert_eq!(row.get::<Option<Uuid>, _>("actor_user_id"), Some(user_id));
        assert_eq!(
            row.get::<Option<String>, _>("actor_role").as_deref(),
            Some("authenticated")
        );
        assert!(row.get::<Option<String>, _>("request_id").is_some());
    }

    // What the requests set ended with their transactions: a bare connection through the pooler
    // finds, on every server connection, no claims, no request id, its own login role, and
    // (as that login role) no patients.
    let bare_options: PgConnectOptions = pooler
        .url("indra_app", POOLER_URL_SETTINGS)
        .parse()
        .unwrap();
    let mut bare = Vec::new();
    for _ in 0..SERVER_CONNECTIONS {
        let mut conn = bare_options.connect().await.unwrap();
        // Each open transaction holds one server connection, so together they see all of them.
        sqlx::raw_sql("begin").execute(&mut conn).await.unwrap();
        bare.push(conn);
    }
    let mut backends = Vec::new();
    for conn in &mut bare {
        let row = sqlx::query(
            "select pg_backend_pid() as pid, current_user::text as who,
                    coalesce(current_setting('request.jwt.claims', true), '') as claims,
                    coalesce(current_setting('request.id', true), '') as request_id",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        backends.push(row.get::<i32, _>("pid"));
        assert_eq!(row.get::<String, _>("who"), "indra_app");
        assert_eq!(
            row.get::<String, _>("claims"),
            "",
            "claims left on a pooled connection"
        );
        assert_eq!(row.get::<String, _>("request_id"), "");
        let denied = sqlx::query_scalar::<_, i64>("select count(*) from patients")
            .fetch_one(&mut *conn)
            .await
            .unwrap_err();
        assert_eq!(
            denied.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "the login role read patients: {denied}"
        );
    }
    backends.sort_unstable();
    backends.dedup();
    assert_eq!(
        backends.len(),
        SERVER_CONNECTIONS,
        "the bare connections did not cover every server connection"
    );
    // Even switched to the API role, a connection without claims sees no patient.
    let conn = &mut bare[0];
    sqlx::raw_sql("rollback; begin; set local role authenticated")
        .execute(&mut *conn)
        .await
        .unwrap();
    let visible: i64 = sqlx::query_scalar("select count(*) from patients")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(visible, 0, "patients visible without claims");
    for conn in bare {
        conn.close().await.unwrap();
    }

    Arc::into_inner(app).unwrap().close().await;
    drop(pooler);
}

/// What sqlx 0.8 needs to pass PgBouncer 1.18 in transaction mode, shown on bare connections:
/// turning its statement cache off is not enough by itself (it still names every statement and
/// leaves it on the server connection), and PgBouncer's reset after every transaction is not
/// enough by itself (the cache would reuse a statement the reset dropped); with both, any
/// number of clients share a server connection, as long as every statement is inside a
/// transaction.
#[tokio::test]
async fn sqlx_needs_its_cache_off_and_a_reset_after_each_transaction() {
    let Some(pgbouncer) = pgbouncer_binary() else {
        return;
    };
    let db = TestDb::new().await.unwrap();

    // One server connection, so every client lands on the same one.
    {
        let naive = Pooler::start(
            &pgbouncer,
            &db,
            1,
            &[
                ("server_reset_query", ""),
                ("server_reset_query_always", "0"),
            ],
        );
        let url = naive.url("postgres", POOLER_URL_SETTINGS);
        let mut first = connect(&url).await;
        let mut second = connect(&url).await;
        transaction_with_a_parameter(&mut first).await.unwrap();
        let collided = transaction_with_a_parameter(&mut second).await.unwrap_err();
        if pgbouncer_tracks_prepared_statements(&pgbouncer) {
            eprintln!("this PgBouncer tracks prepared statements; the collision is not expected");
        } else {
            assert!(
                collided.to_string().contains("sqlx_s_1")
                    && collided.to_string().contains("already exists"),
                "without a reset, the second client's statement should collide with the first's: {collided}"
            );
        }
    }
    {
        let pooler = Pooler::start(&pgbouncer, &db, 1, &[]);
        // sqlx's default cache: the second transaction reuses a statement the reset dropped.
        let mut cached = connect(&pooler.url("postgres", "")).await;
        transaction_with_a_parameter(&mut cached).await.unwrap();
        let dropped = transaction_with_a_parameter(&mut cached).await.unwrap_err();
        assert!(
            dropped.to_string().contains("does not exist"),
            "with the cache on, the reset should drop a statement sqlx reuses: {dropped}"
        );
        // Its failed transaction holds the one server connection until it is gone.
        drop(cached);

        // Cache off and reset on: clients take turns on the one server connection.
        let url = pooler.url("postgres", POOLER_URL_SETTINGS);
        let mut first = connect(&url).await;
        let mut second = connect(&url).await;
        for _ in 0..10 {
            transaction_with_a_parameter(&mut first).await.unwrap();
            transaction_with_a_parameter(&mut second).await.unwrap();
        }
        // Outside a transaction PgBouncer lets the server connection go between the
        // statement's Parse and its Bind, and resets it: the rule that every statement runs in
        // a transaction is what makes this setup work.
        let outside = sqlx::query_scalar::<_, i32>("select $1::int4")
            .bind(7)
            .fetch_one(&mut first)
            .await
            .unwrap_err();
        assert!(
            outside.to_string().contains("does not exist"),
            "a statement outside a transaction: {outside}"
        );
    }
    db.close().await.unwrap();
}

struct Person {
    org_id: Uuid,
    user_id: Uuid,
    token: String,
}

async fn connect(url: &str) -> PgConnection {
    url.parse::<PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A transaction running one statement with a parameter (so sqlx prepares it), as every
/// request does.
async fn transaction_with_a_parameter(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    let echoed: i32 = sqlx::query_scalar("select $1::int4")
        .bind(42)
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(echoed, 42);
    tx.commit().await
}

/// A sample's value in the Prometheus text the server renders.
fn metric(body: &serde_json::Value, name: &str) -> usize {
    let text = body.as_str().unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"))
}

/// The `pgbouncer` binary (Debian installs it in /usr/sbin, often not on a user's PATH).
/// `None` only when it is missing and the pooler tests are skipped on purpose.
fn pgbouncer_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = on_path
        .into_iter()
        .map(|dir| dir.join("pgbouncer"))
        .chain([PathBuf::from("/usr/sbin/pgbouncer")])
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        if std::env::var("INDRA_SKIP_POOLER_TESTS").as_deref() == Ok("1") {
            eprintln!("SKIPPED: pgbouncer is not installed and INDRA_SKIP_POOLER_TESTS=1");
            return None;
        }
        panic!(
            "pgbouncer is not installed. Install it from Debian's packages \
             (sudo apt-get install -y pgbouncer; scripts/test does this when it can), \
             or set INDRA_SKIP_POOLER_TESTS=1 to skip the pooler tests."
        );
    }
    found
}

/// PgBouncer 1.21 and later track named prepared statements themselves
/// (`max_prepared_statements`); Debian 12's 1.18 does not.
fn pgbouncer_tracks_prepared_statements(binary: &Path) -> bool {
    let output = Command::new(binary).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("pgbouncer --version said {text:?}"));
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (1, 21)
}

/// PgBouncer running for one test, with deploy/pgbouncer/pgbouncer.ini's settings except the
/// addresses, the authentication (PostgreSQL here trusts local connections) and the pool size.
struct Pooler {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Pooler {
    fn start(binary: &Path, db: &TestDb, server_pool: usize, overrides: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("indra-pooler-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let target: PgConnectOptions = db.url().parse().unwrap();
        let host = match target.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => target.get_host().to_owned(),
        };
        let port = free_port();
        let auth_file = dir.join("userlist.txt");
        std::fs::write(&auth_file, "\"indra_app\" \"\"\n\"postgres\" \"\"\n").unwrap();

        let mut settings: Vec<(String, String)> = vec![
            ("listen_addr".into(), "127.0.0.1".into()),
            ("listen_port".into(), port.to_string()),
            ("unix_socket_dir".into(), String::new()),
            ("logfile".into(), String::new()),
            ("pidfile".into(), String::new()),
            ("auth_type".into(), "trust".into()),
            ("auth_file".into(), auth_file.display().to_string()),
            ("default_pool_size".into(), server_pool.to_string()),
            ("reserve_pool_size".into(), "0".into()),
            ("server_tls_sslmode".into(), "disable".into()),
            ("admin_users".into(), String::new()),
            ("stats_users".into(), String::new()),
        ];
        for (key, value) in overrides {
            settings.push(((*key).to_owned(), (*value).to_owned()));
        }
        let ini = format!(
            "[databases]\n{POOLED_DATABASE} = host={host} port={} dbname={}\n\n[pgbouncer]\n{}",
            target.get_port(),
            db.name,
            example_settings_with(&settings)
        );
        let ini_path = dir.join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).unwrap();
        let log_path = dir.join("pgbouncer.log");
        let log = std::fs::File::create(&log_path).unwrap();

        let mut command = if running_as_root() {
            // PgBouncer will not run as root; the postgres user can read the temp files.
            let mut command = Command::new("setpriv");
            command
                .args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ])
                .arg(binary);
            command
        } else {
            Command::new(binary)
        };
        let child = command
            .arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut pooler = Pooler { child, port, dir };
        pooler.wait_until_listening(&log_path);
        pooler
    }

    fn wait_until_listening(&mut self, log_path: &Path) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "pgbouncer exited ({status}):\n{}",
                    std::fs::read_to_string(log_path).unwrap_or_default()
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen on port {} within 10 s:\n{}",
                self.port,
                std::fs::read_to_string(log_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A URL through the pooler as `user`, with `settings` as its query string.
    fn url(&self, user: &str, settings: &str) -> String {
        let query = if settings.is_empty() {
            String::new()
        } else {
            format!("?{settings}")
        };
        format!(
            "postgres://{user}@127.0.0.1:{}/{POOLED_DATABASE}{query}",
            self.port
        )
    }
}

impl Drop for Pooler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The example's `[pgbouncer]` settings, each key in `settings` replaced by (or added with)
/// the value given there.
fn example_settings_with(settings: &[(String, String)]) -> String {
    let replaced = |key: &str| settings.iter().any(|(k, _)| k == key);
    let mut out = String::new();
    let mut in_section = false;
    for line in EXAMPLE_INI.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed == "[pgbouncer]";
            continue;
        }
        if !in_section || trimmed.starts_with(';') || trimmed.is_empty() {
            continue;
        }
        let key = trimmed.split('=').next().unwrap_or_default().trim();
        if !replaced(key) {
            out.push_str(trimmed);
            out.push('\n');
        }
    }
    // Later overrides win.
    let mut seen = std::collections::HashSet::new();
    for (key, value) in settings.iter().rev() {
        if seen.insert(key.as_str()) {
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    out
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
