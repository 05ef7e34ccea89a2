use super::*;
use crate::dictation::{
    AppointmentProposal, BillingLine, BillingProposal, EncounterKind, EncounterProposal,
    MedicationChange, MedicationProposal, Modality, NoteDraftProposal, Recurrence,
};
use jiff::civil::{date, datetime};

fn case(expect: serde_json::Value) -> Case {
    serde_json::from_value(serde_json::json!({
        "id": "t",
        "now": "2026-03-10T16:00:00",
        "timezone": "America/Chicago",
        "provider": {"first_name": "M", "last_name": "P", "credentials": "LCSW",
                     "preferred_note_format": "SOAP"},
        "patients": [{"key": "p1", "first_name": "Jane", "last_name": "Doe",
                      "date_of_birth": "1988-04-12",
                      "diagnoses": [{"code": "F41.1", "primary": true}], "medications": []}],
        "input": "x",
        "expect": expect,
    }))
    .unwrap()
}

fn encounter(patient: &str, minutes: u32) -> ProposedAction {
    ProposedAction::CreateEncounter(EncounterProposal {
        patient_id: patient.to_owned(),
        encounter_type: EncounterKind::IndividualTherapy,
        modality: Modality::InPerson,
        date: date(2026, 3, 10),
        start_time: None,
        duration_minutes: minutes,
        psychotherapy_minutes: None,
        interactive_complexity: false,
        patient_present: true,
        evidence: std::iter::once(0..1).collect(),
    })
}

fn billing(codes: &[(&str, u32)], modifiers: &[&str], icd10: &[&str]) -> ProposedAction {
    ProposedAction::SuggestBilling(BillingProposal {
        patient_id: "p1".to_owned(),
        lines: codes
            .iter()
            .map(|(c, u)| BillingLine {
                cpt: (*c).to_owned(),
                units: *u,
                modifiers: modifiers.iter().map(|m| (*m).to_owned()).collect(),
                why: String::new(),
            })
            .collect(),
        icd10: icd10.iter().map(|c| (*c).to_owned()).collect(),
        place_of_service: "11".to_owned(),
        not_billed: Vec::new(),
        evidence: Vec::new(),
    })
}

fn same(id: &str) -> Option<String> {
    Some(id.to_owned())
}

fn run(expect: serde_json::Value, proposed: Vec<ProposedAction>) -> CaseResult {
    compare(&case(expect), &RunOutcome::Ready(proposed), None, same)
}

#[test]
fn every_expected_action_needs_its_own_proposal_and_nothing_may_be_left_over() {
    let expect = serde_json::json!({"clarification": null, "actions": [
        {"type": "create_encounter", "patient": "p1", "duration_minutes": 50}]});
    let r = run(expect.clone(), vec![encounter("p1", 50)]);
    assert!(r.passed, "{r}");
    assert_eq!(r.counts["create_encounter"].true_positives, 1);

    let r = run(
        expect.clone(),
        vec![encounter("p1", 50), encounter("p1", 50)],
    );
    assert!(!r.passed);
    assert_eq!(r.counts["create_encounter"].false_positives, 1);
    assert!(
        r.to_string().contains("unexpected create_encounter for p1"),
        "{r}"
    );

    let r = run(expect, vec![encounter("p1", 45)]);
    assert!(!r.passed);
    assert_eq!(r.counts["create_encounter"].false_negatives, 1);
    assert!(
        r.to_string().contains("duration_minutes is 45, not 50"),
        "{r}"
    );
}

#[test]
fn matching_does_not_depend_on_order() {
    let expect = serde_json::json!({"clarification": null, "actions": [
        {"type": "create_encounter", "patient": "p1"},
        {"type": "create_encounter", "patient": "p1", "duration_minutes": 30}]});
    // A greedy pairing would give the first expectation the 30-minute encounter and fail.
    let r = run(expect, vec![encounter("p1", 30), encounter("p1", 60)]);
    assert!(r.passed, "{r}");
}

#[test]
fn billing_compares_the_exact_code_set_units_icd10_and_primary_modifiers() {
    let expect = |extra: serde_json::Value| {
        let mut action = serde_json::json!({"type": "suggest_billing", "patient": "p1",
            "cpt": ["90839", "90840"], "units": {"90840": 2}, "icd10": ["F41.1"]});
        if let (Some(a), Some(e)) = (action.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        serde_json::json!({"clarification": null, "actions": [action]})
    };
    let good = billing(&[("90839", 1), ("90840", 2)], &[], &["F41.1", "F43.10"]);
    assert!(run(expect(serde_json::json!({})), vec![good.clone()]).passed);
    // Units of the codes the expectation does not name must be 1.
    let bad_units = billing(&[("90839", 2), ("90840", 2)], &[], &["F41.1"]);
    assert!(!run(expect(serde_json::json!({})), vec![bad_units]).passed);
    let one_unit = billing(&[("90839", 1), ("90840", 1)], &[], &["F41.1"]);
    assert!(!run(expect(serde_json::json!({})), vec![one_unit]).passed);
    let extra_code = billing(&[("90839", 1), ("90840", 2), ("90785", 1)], &[], &["F41.1"]);
    assert!(!run(expect(serde_json::json!({})), vec![extra_code]).passed);
    // icd10 must be contained; icd10_absent must not be.
    assert!(
        !run(
            expect(serde_json::json!({"icd10_absent": ["F43.10"]})),
            vec![good.clone()]
        )
        .passed
    );
    let missing_icd = billing(&[("90839", 1), ("90840", 2)], &[], &["F43.10"]);
    assert!(!run(expect(serde_json::json!({})), vec![missing_icd]).passed);
    // Without `modifiers` the primary line must carry none.
    let video = billing(&[("90839", 1), ("90840", 2)], &["95"], &["F41.1"]);
    assert!(!run(expect(serde_json::json!({})), vec![video.clone()]).passed);
    assert!(
        run(
            expect(serde_json::json!({"modifiers": ["95"]})),
            vec![video]
        )
        .passed
    );
}

#[test]
fn note_mentions_are_whole_words_in_the_named_section() {
    let note = ProposedAction::CreateNoteDraft(NoteDraftProposal {
        patient_id: "p1".to_owned(),
        format: "SOAP".to_owned(),
        sections: [
            (
                "subjective".to_owned(),
                "She went walking. GAD-7 was 16.".to_owned(),
            ),
            ("plan".to_owned(), "Weekly.".to_owned()),
        ]
        .into_iter()
        .collect(),
        evidence: Vec::new(),
    });
    let expect = |mentions: serde_json::Value| {
        serde_json::json!({"clarification": null, "actions": [
            {"type": "create_note_draft", "patient": "p1", "format": "SOAP", "mentions": mentions}]})
    };
    assert!(
        run(
            expect(serde_json::json!({"subjective": ["WALKING", "gad-7"], "plan": ["weekly"]})),
            vec![note.clone()]
        )
        .passed
    );
    assert!(
        !run(
            expect(serde_json::json!({"subjective": ["walk"]})),
            vec![note.clone()]
        )
        .passed
    );
    assert!(
        !run(
            expect(serde_json::json!({"plan": ["walking"]})),
            vec![note.clone()]
        )
        .passed
    );
    assert!(
        !run(
            expect(serde_json::json!({"objective": ["walking"]})),
            vec![note]
        )
        .passed
    );
    assert!(contains_word("a b-c d", "b-c"));
    assert!(!contains_word("ab", "a"));
}

#[test]
fn medication_names_and_doses_ignore_case_and_spaces() {
    let med = ProposedAction::UpdateMedication(MedicationProposal {
        patient_id: "p1".to_owned(),
        change: MedicationChange::Changed,
        name: "Sertraline".to_owned(),
        dose: Some("100 mg".to_owned()),
        frequency: Some("daily".to_owned()),
        previous_dose: None,
        evidence: Vec::new(),
    });
    let expect = |dose: &str, change: &str| {
        serde_json::json!({"clarification": null, "actions": [
            {"type": "update_medication", "patient": "p1", "name": "sertraline",
             "dose": dose, "change": change}]})
    };
    assert!(run(expect("100MG", "changed"), vec![med.clone()]).passed);
    assert!(!run(expect("100 mg daily", "changed"), vec![med.clone()]).passed);
    assert!(!run(expect("100 mg", "started"), vec![med]).passed);
}

#[test]
fn appointments_compare_start_to_the_minute_and_the_given_rule_parts() {
    let appt = ProposedAction::CreateAppointment(AppointmentProposal {
        patient_id: "p1".to_owned(),
        start: datetime(2026, 3, 17, 15, 0, 0, 0),
        starts_at: None,
        duration_minutes: 50,
        recurrence: Some(Recurrence {
            freq: "WEEKLY".to_owned(),
            interval: 1,
            count: Some(6),
        }),
        evidence: Vec::new(),
    });
    let expect = |extra: serde_json::Value| {
        let mut a = serde_json::json!({"type": "create_appointment", "patient": "p1",
                                       "start": "2026-03-17T15:00"});
        if let (Some(a), Some(e)) = (a.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        serde_json::json!({"clarification": null, "actions": [a]})
    };
    assert!(run(expect(serde_json::json!({})), vec![appt.clone()]).passed);
    assert!(
        run(
            expect(serde_json::json!({"recurrence": {"freq": "WEEKLY", "count": 6}})),
            vec![appt.clone()]
        )
        .passed
    );
    assert!(
        run(
            expect(serde_json::json!({"recurrence": {"freq": "WEEKLY", "interval": 1}})),
            vec![appt.clone()]
        )
        .passed
    );
    assert!(
        !run(
            expect(serde_json::json!({"recurrence": {"interval": 2}})),
            vec![appt.clone()]
        )
        .passed
    );
    assert!(
        !run(
            expect(serde_json::json!({"duration_minutes": 45})),
            vec![appt.clone()]
        )
        .passed
    );
    let r = run(
        serde_json::json!({"clarification": null, "actions": [
            {"type": "create_appointment", "patient": "p1", "start": "2026-03-17T15:01"}]}),
        vec![appt],
    );
    assert!(!r.passed);
}

#[test]
fn clarification_outcomes() {
    let ask = serde_json::json!({"clarification": {"about": "patient"}, "actions": []});
    let asked = RunOutcome::NeedsClarification {
        topic: ClarificationTopic::Patient,
        proposed: Vec::new(),
    };
    assert!(compare(&case(ask.clone()), &asked, None, same).passed);
    // Asking about something else, proposing, or asking while proposing all fail.
    let wrong = RunOutcome::NeedsClarification {
        topic: ClarificationTopic::Duration,
        proposed: Vec::new(),
    };
    assert!(!compare(&case(ask.clone()), &wrong, None, same).passed);
    let proposing = RunOutcome::Ready(vec![encounter("p1", 50)]);
    let r = compare(&case(ask.clone()), &proposing, None, same);
    assert!(!r.passed);
    assert_eq!(r.counts["create_encounter"].false_positives, 1);
    let both = RunOutcome::NeedsClarification {
        topic: ClarificationTopic::Patient,
        proposed: vec![encounter("p1", 50)],
    };
    assert!(!compare(&case(ask), &both, None, same).passed);

    // An unexpected question fails even if nothing else is wrong.
    let plain = serde_json::json!({"clarification": null, "actions": []});
    assert!(!compare(&case(plain), &asked, None, same).passed);

    // With an answer, the resumed run's proposals are compared.
    let answered = serde_json::json!({"clarification": {"about": "duration", "answer": "50 minutes"},
        "actions": [{"type": "create_encounter", "patient": "p1", "duration_minutes": 50}]});
    let asked_duration = RunOutcome::NeedsClarification {
        topic: ClarificationTopic::Duration,
        proposed: Vec::new(),
    };
    let resumed = RunOutcome::Ready(vec![encounter("p1", 50)]);
    assert!(
        compare(
            &case(answered.clone()),
            &asked_duration,
            Some(&resumed),
            same
        )
        .passed
    );
    assert!(!compare(&case(answered.clone()), &asked_duration, None, same).passed);
    let failed = RunOutcome::Failed("step limit".to_owned());
    let r = compare(&case(answered), &asked_duration, Some(&failed), same);
    assert!(r.to_string().contains("step limit"), "{r}");
}

#[test]
fn patient_answers_pick_the_offered_option() {
    let c = case(
        serde_json::json!({"clarification": {"about": "patient", "answer": "p1"}, "actions": []}),
    );
    let offered = crate::dictation::Clarification {
        topic: ClarificationTopic::Patient,
        question: "Which?".to_owned(),
        options: vec![crate::dictation::ClarificationOption {
            id: "uuid-1".to_owned(),
            label: "Jane Doe".to_owned(),
        }],
        evidence: Vec::new(),
    };
    let answer = c.answer(&offered, |key| (key == "p1").then(|| "uuid-1".to_owned()));
    assert_eq!(answer.and_then(|a| a.option_id).as_deref(), Some("uuid-1"));
    assert!(c.answer(&offered, |_| Some("uuid-2".to_owned())).is_none());
}

#[test]
fn report_prints_the_format_summary() {
    let mut report = Report::default();
    report.push(run(
        serde_json::json!({"clarification": null, "actions": [
            {"type": "create_encounter", "patient": "p1"}]}),
        vec![encounter("p1", 50)],
    ));
    report.push(run(
        serde_json::json!({"clarification": null, "actions": []}),
        vec![encounter("p1", 50)],
    ));
    let out = report.to_string();
    assert!(
        out.starts_with("PASS t\nFAIL t: unexpected create_encounter for p1\n"),
        "{out}"
    );
    assert!(
        out.contains("create_encounter: precision 50.0% recall 100.0% (tp 1, fp 1, fn 0)"),
        "{out}"
    );
    assert!(
        out.contains("update_medication: precision n/a recall n/a"),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 1 failed"), "{out}");
}
