//! Prints what the `rules` model makes of evaluation cases, and how long it takes.
//!
//! `cargo run -p indra-ai --release --example explain -- FILE [CASE_ID...]`: without ids, compares
//! every case (printing FORMAT.md's report) and times the parser over the file; with ids, prints
//! each case's interpretation (and the resumed one after the case's answer) as JSON.

use std::time::Instant;

use indra_ai::dictation::{Interpretation, interpret};
use indra_ai::eval::{Case, Report, RunOutcome, compare};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: explain FILE [CASE_ID...]")?;
    let ids: Vec<String> = args.collect();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let cases = Case::parse_jsonl(&text)?;
    if ids.is_empty() {
        let mut report = Report::default();
        for case in &cases {
            report.push(evaluate(case)?);
        }
        println!("{report}");
        let contexts: Vec<_> = cases
            .iter()
            .map(|c| c.context(Vec::new()))
            .collect::<Result<_, _>>()?;
        let rounds = 200;
        let started = Instant::now();
        for _ in 0..rounds {
            for (case, context) in cases.iter().zip(&contexts) {
                std::hint::black_box(interpret(&case.input, context));
            }
        }
        let per = started.elapsed() / u32::try_from(rounds * cases.len()).unwrap_or(1);
        println!(
            "{} dictations x {rounds}: {per:?} per dictation",
            cases.len()
        );
        return Ok(());
    }
    for case in cases.iter().filter(|c| ids.contains(&c.id)) {
        let context = case.context(Vec::new())?;
        let first = interpret(&case.input, &context);
        println!("== {}\n{}", case.id, to_json(&first));
        if let Interpretation::NeedsClarification(question) = &first
            && let Some(answer) = case.answer(question, |k| Some(k.to_owned()))
        {
            let resumed = interpret(&case.input, &case.context(vec![answer])?);
            println!("-- resumed\n{}", to_json(&resumed));
        }
    }
    Ok(())
}

fn to_json(i: &Interpretation) -> String {
    serde_json::to_string_pretty(i).unwrap_or_default()
}

fn outcome(i: &Interpretation) -> RunOutcome {
    match i {
        Interpretation::NeedsClarification(q) => RunOutcome::NeedsClarification {
            topic: q.topic,
            proposed: Vec::new(),
        },
        Interpretation::Proposals { actions } => RunOutcome::Ready(actions.clone()),
    }
}

fn evaluate(case: &Case) -> Result<indra_ai::eval::CaseResult, String> {
    let first = interpret(&case.input, &case.context(Vec::new())?);
    let mut resumed = None;
    if let Interpretation::NeedsClarification(question) = &first
        && let Some(answer) = case.answer(question, |k| Some(k.to_owned()))
    {
        resumed = Some(outcome(&interpret(
            &case.input,
            &case.context(vec![answer])?,
        )));
    }
    Ok(compare(case, &outcome(&first), resumed.as_ref(), |id| {
        Some(id.to_owned())
    }))
}
