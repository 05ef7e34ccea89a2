//! `indra bench http` end to end, small: a real `indra serve` on the demo (two practices), every
//! scenario for a second with two clients, pgbench and the audit phases for a second each. It
//! proves that each scenario's requests succeed and did what they say (notes signed,
//! appointments booked, claims exported, assistant runs committed), and that the report, the
//! chart and the pgbench scripts are written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on failure, like the tests"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use indra_db::testing::TestDb;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The server, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `indra serve` on a free port of 127.0.0.1, with its own data directory; the assistant's
/// worker looks for runs every 50 ms so that a run settles within the second measured.
fn serve(database_url: &str, data_dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_indra"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("INDRA_DATA_DIR", data_dir)
        .env("INDRA_AI_POLL_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start indra serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    // "Indra is serving on http://127.0.0.1:PORT/  (API: ...)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    Server { child, url }
}

/// What the write scenarios leave behind, to see that their requests did something.
async fn effects(pool: &PgPool) -> [i64; 4] {
    let row: (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from clinical_notes where status = 'signed'),
                (select count(*) from appointments),
                (select count(*) from claim_exports),
                (select count(*) from ai_runs where status = 'committed')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    [row.0, row.1, row.2, row.3]
}

#[tokio::test]
async fn every_scenario_succeeds_over_http_and_the_report_is_written() {
    let db = TestDb::with_demo(2).await.unwrap();
    let before = effects(&db.pool).await;
    let dir = std::env::temp_dir().join(format!("indra-bench-http-{}", Uuid::new_v4().simple()));
    let out = dir.join("report");
    let server = serve(db.url(), &dir.join("data"));

    let bench = Command::new(env!("CARGO_BIN_EXE_indra"))
        .args([
            "bench",
            "http",
            "--url",
            &server.url,
            "--clients",
            "2",
            "--seconds",
            "1",
            "--warm-up",
            "0",
            "--compare-seconds",
            "1",
            "--export-clients",
            "1",
            // The demo has 10 ready claims a practice: the benchmark copies documented ones.
            "--ready-claims",
            "100",
            "--server-pid",
            &server.child.id().to_string(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    drop(server);
    let stdout = String::from_utf8_lossy(&bench.stdout);
    let stderr = String::from_utf8_lossy(&bench.stderr);
    assert!(bench.status.success(), "{stdout}\n{stderr}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sign-in",
            "search",
            "chart",
            "week",
            "note",
            "book",
            "claims",
            "export",
            "assistant"
        ]
    );
    for s in scenarios {
        let name = &s["scenario"];
        assert_eq!(s["status"], "ran", "{name}: {}", s["reason"]);
        assert_eq!(s["errors"], 0, "{name}: {}", s["error_samples"]);
        assert!(s["operations"].as_u64().unwrap() > 0, "{name}");
        for measure in s["measures"].as_array().unwrap() {
            let p99 = measure["latency"]["p99_ms"].as_f64().unwrap();
            assert!(p99 > 0.0, "{name}: {measure}");
        }
    }
    // The writes happened: notes signed, appointments booked, an 837P exported, runs committed.
    let after = effects(&db.pool).await;
    for (what, (b, a)) in [
        "signed notes",
        "appointments",
        "claim exports",
        "committed runs",
    ]
    .iter()
    .zip(before.iter().zip(after))
    {
        assert!(a > *b, "{what}: {b} before, {a} after");
    }

    // The comparisons: pgbench beside each read scenario (pgbench is on this machine's PATH:
    // PostgreSQL's client programs), RLS, the audit trigger, the server's memory.
    assert!(
        report["pgbench"]["pgbench"].as_str().is_some(),
        "{}",
        report["pgbench"]
    );
    for row in report["pgbench"]["api_vs_pgbench"].as_array().unwrap() {
        assert!(row["ratio"].as_f64().unwrap() > 0.0, "{row}");
    }
    assert_eq!(report["pgbench"]["rls"].as_array().unwrap().len(), 4);
    assert!(
        report["audit"]["cost_percent"].as_f64().is_some(),
        "{}",
        report["audit"]
    );
    assert!(report["server_memory"]["max_rss_mib"].as_f64().unwrap() > 1.0);
    assert_eq!(report["targets"].as_array().unwrap().len(), 13);

    let chart = std::fs::read_to_string(out.join("pgbench/chart/endpoint.sql")).unwrap();
    assert!(chart.contains("select user_id, org_id, user_role from app.begin_request(:auth_id,"));
    assert!(chart.contains("from patients where id = :patient;"));
    assert_eq!(
        chart
            .matches("-- mirrors indra_server::clinical::patients::")
            .count(),
        7
    );
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("## Targets (issue 7)"));
    assert!(
        stdout.contains("## Targets (issue 7)"),
        "the table is printed"
    );
    let svg = std::fs::read_to_string(out.join("latency.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("open a chart"));

    std::fs::remove_dir_all(&dir).unwrap();
    db.close().await.unwrap();
}
