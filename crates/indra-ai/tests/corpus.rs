//! Every evaluation case through the `rules` model and the comparison: the shared corpus
//! (`../shared/ai-eval/dictations.jsonl`, or `INDRA_AI_SHARED_CORPUS`) and the repository's own
//! (`corpus/dictations.jsonl`). Every case must pass.

use std::path::PathBuf;

use indra_ai::dictation::{Interpretation, interpret};
use indra_ai::eval::{Case, CaseResult, Report, RunOutcome, compare};

fn outcome(interpretation: &Interpretation) -> RunOutcome {
    match interpretation {
        Interpretation::NeedsClarification(q) => RunOutcome::NeedsClarification {
            topic: q.topic,
            proposed: Vec::new(),
        },
        Interpretation::Proposals { actions } => RunOutcome::Ready(actions.clone()),
    }
}

/// Runs one case in memory: the patients' ids are their keys.
fn run(case: &Case) -> (CaseResult, Vec<Interpretation>) {
    let context = case.context(Vec::new()).expect("case context");
    let first = interpret(&case.input, &context);
    let mut seen = vec![first.clone()];
    let resumed = match &first {
        Interpretation::NeedsClarification(question) => case
            .answer(question, |key| Some(key.to_owned()))
            .map(|answer| {
                let context = case.context(vec![answer]).expect("case context");
                let again = interpret(&case.input, &context);
                seen.push(again.clone());
                outcome(&again)
            }),
        Interpretation::Proposals { .. } => None,
    };
    let result = compare(case, &outcome(&first), resumed.as_ref(), |id| {
        Some(id.to_owned())
    });
    (result, seen)
}

/// What every interpretation must satisfy whatever the case expects.
fn check_well_formed(case: &Case, interpretation: &Interpretation) {
    let chars = case.input.chars().count();
    let spans: Vec<std::ops::Range<usize>> = match interpretation {
        Interpretation::NeedsClarification(q) => {
            assert!(!q.question.is_empty(), "{}", case.id);
            q.evidence.clone()
        }
        Interpretation::Proposals { actions } => {
            for action in actions {
                assert!(
                    !action.evidence().is_empty(),
                    "{}: {} without evidence",
                    case.id,
                    action.action_type()
                );
            }
            actions.iter().flat_map(|a| a.evidence().to_vec()).collect()
        }
    };
    for span in spans {
        assert!(
            span.start < span.end && span.end <= chars,
            "{}: span {span:?}",
            case.id
        );
    }
    // Deterministic, and the payload survives JSON (what ai_steps/ai_proposed_actions store).
    let json = serde_json::to_string(interpretation).expect("serialize");
    let back: Interpretation = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(&back, interpretation, "{}", case.id);
}

fn evaluate(path: PathBuf, minimum: usize) {
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let cases = Case::parse_jsonl(&text).expect("valid cases");
    assert!(
        cases.len() >= minimum,
        "{} holds {} cases",
        path.display(),
        cases.len()
    );
    let mut report = Report::default();
    for case in &cases {
        let (result, interpretations) = run(case);
        for interpretation in &interpretations {
            check_well_formed(case, interpretation);
        }
        let (again, _) = run(case);
        assert_eq!(again, result, "{} is not deterministic", case.id);
        report.push(result);
    }
    eprintln!("{}:\n{report}", path.display());
    assert_eq!(report.failed(), 0, "\n{report}");
}

/// The shared corpus where the project's shared folder sits beside the checkout (the live
/// file), else the copy kept in `corpus/shared/` so a clone anywhere runs the same cases.
#[test]
fn shared_corpus_passes() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = std::env::var_os("INDRA_AI_SHARED_CORPUS")
        .map(PathBuf::from)
        .or_else(|| {
            let live = manifest.join("../../../shared/ai-eval/dictations.jsonl");
            live.exists().then_some(live)
        })
        .unwrap_or_else(|| manifest.join("../../corpus/shared/dictations.jsonl"));
    evaluate(path, 36);
}

#[test]
fn own_corpus_passes() {
    evaluate(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/dictations.jsonl"),
        40,
    );
}
