//! `indra ai eval` on the shared corpus and the repository's own: every case passes with the
//! rules model, through the database (scratch organizations, the queue, the loop).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::Path;
use std::process::Command;

use indra_db::testing::admin_url;

fn eval(file: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(file);
    assert!(path.exists(), "{} is missing", path.display());
    let output = Command::new(env!("CARGO_BIN_EXE_indra"))
        .args(["ai", "eval"])
        .arg(&path)
        .env("DATABASE_URL", admin_url())
        .output()
        .expect("run indra");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(
        stdout.contains("create_encounter: precision 100.0% recall 100.0%"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL "), "{stdout}");
}

#[test]
fn the_shared_corpus_passes() {
    eval("corpus/shared/dictations.jsonl");
}

#[test]
fn the_repositorys_corpus_passes() {
    eval("corpus/dictations.jsonl");
}
