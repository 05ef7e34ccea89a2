//! `interpret` as the run loop sees it: boundaries of the coding rules reached through
//! dictations, questions and resumed answers, time zones, evidence offsets.

use indra_ai::dictation::{
    CandidatePatient, ClarificationAnswer, ClarificationTopic, Diagnosis, DictationContext,
    EncounterKind, Interpretation, Medication, MedicationChange, ProposedAction, Provider,
    interpret,
};
use indra_rules::clinical::note_format::NoteFormat;
use jiff::civil::{date, datetime};

fn patient(id: &str, first: &str, last: &str) -> CandidatePatient {
    CandidatePatient {
        id: id.to_owned(),
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        date_of_birth: Some(date(1990, 1, 1)),
        diagnoses: vec![Diagnosis {
            code: "F41.1".to_owned(),
            primary: true,
        }],
        ..CandidatePatient::default()
    }
}

fn context(
    credentials: &str,
    format: NoteFormat,
    patients: Vec<CandidatePatient>,
) -> DictationContext {
    DictationContext {
        provider: Provider {
            first_name: "Ana".to_owned(),
            last_name: "Ruiz".to_owned(),
            credentials: credentials.to_owned(),
            note_format: format,
        },
        time_zone: "America/New_York".to_owned(),
        // A Thursday, three days before daylight saving time starts (2026-03-08).
        now: datetime(2026, 3, 5, 16, 0, 0, 0),
        patients,
        answers: Vec::new(),
        chart_patient: None,
    }
}

fn therapist() -> DictationContext {
    context(
        "LCSW",
        NoteFormat::Soap,
        vec![patient("p1", "Nora", "Quill")],
    )
}

fn actions(input: &str, ctx: &DictationContext) -> Vec<ProposedAction> {
    match interpret(input, ctx) {
        Interpretation::Proposals { actions } => actions,
        Interpretation::NeedsClarification(q) => panic!("{input:?} asked: {}", q.question),
    }
}

fn question(input: &str, ctx: &DictationContext) -> indra_ai::dictation::Clarification {
    match interpret(input, ctx) {
        Interpretation::NeedsClarification(q) => q,
        Interpretation::Proposals { actions } => panic!("{input:?} proposed {actions:?}"),
    }
}

/// The (code, units) of the billing proposal, or none when nothing can be billed.
fn billed(input: &str, ctx: &DictationContext) -> Vec<(String, u32)> {
    actions(input, ctx)
        .into_iter()
        .filter_map(|a| match a {
            ProposedAction::SuggestBilling(b) => Some(b.lines),
            _ => None,
        })
        .flatten()
        .map(|l| (l.cpt, l.units))
        .collect()
}

fn codes(list: &[(&str, u32)]) -> Vec<(String, u32)> {
    list.iter().map(|(c, u)| ((*c).to_owned(), *u)).collect()
}

#[test]
fn psychotherapy_minutes_at_the_code_boundaries() {
    let ctx = therapist();
    for (minutes, expected) in [
        (15, vec![]),
        (16, vec![("90832", 1)]),
        (37, vec![("90832", 1)]),
        (38, vec![("90834", 1)]),
        (52, vec![("90834", 1)]),
        (53, vec![("90837", 1)]),
    ] {
        let input = format!(
            "Individual session with Nora Quill, {minutes} minutes. She reports less worry."
        );
        assert_eq!(billed(&input, &ctx), codes(&expected), "{minutes} minutes");
        // The encounter is proposed even when nothing can be billed.
        assert!(matches!(
            actions(&input, &ctx)[0],
            ProposedAction::CreateEncounter(_)
        ));
    }
}

#[test]
fn crisis_minutes_at_the_add_on_boundaries() {
    let ctx = therapist();
    for (minutes, expected) in [
        (74, vec![("90839", 1)]),
        (75, vec![("90839", 1), ("90840", 1)]),
        (104, vec![("90839", 1), ("90840", 1)]),
        (105, vec![("90839", 1), ("90840", 2)]),
    ] {
        let input =
            format!("Crisis session with Nora Quill, {minutes} minutes, safety plan completed.");
        assert_eq!(billed(&input, &ctx), codes(&expected), "{minutes} minutes");
    }
}

#[test]
fn e_m_time_excludes_the_stated_psychotherapy_minutes() {
    let ctx = context("MD", NoteFormat::Soap, vec![patient("p1", "Nora", "Quill")]);
    for (text, expected) in [
        ("Med check with Nora Quill, 19 minutes.", vec![("99212", 1)]),
        ("Med check with Nora Quill, 20 minutes.", vec![("99213", 1)]),
        ("Med check with Nora Quill, 39 minutes.", vec![("99214", 1)]),
        ("Med check with Nora Quill, 40 minutes.", vec![("99215", 1)]),
        (
            "Med check with Nora Quill, 50 minutes total, of which 16 minutes psychotherapy.",
            vec![("99214", 1), ("90833", 1)],
        ),
        (
            "New patient medication management visit with Nora Quill, 30 minutes.",
            vec![("99203", 1)],
        ),
    ] {
        assert_eq!(billed(text, &ctx), codes(&expected), "{text}");
    }
}

#[test]
fn family_sessions_need_26_minutes_and_know_whether_the_patient_was_there() {
    let ctx = therapist();
    assert_eq!(
        billed(
            "Family session with Nora Quill and her parents, 25 minutes.",
            &ctx
        ),
        codes(&[])
    );
    assert_eq!(
        billed(
            "Family session with Nora Quill and her parents, 26 minutes.",
            &ctx
        ),
        codes(&[("90847", 1)])
    );
    assert_eq!(
        billed(
            "Met with Nora Quill's parents without Nora, 50 minutes of family therapy.",
            &ctx
        ),
        codes(&[("90846", 1)])
    );
}

#[test]
fn appointments_keep_wall_clock_time_across_daylight_saving() {
    let ctx = therapist();
    let found = actions(
        "Nora Quill, 45 minutes. Weekly for six weeks starting next Monday at 9.",
        &ctx,
    );
    let Some(ProposedAction::CreateAppointment(a)) = found.last() else {
        panic!("{found:?}");
    };
    assert_eq!(a.start, datetime(2026, 3, 9, 9, 0, 0, 0));
    // Eastern daylight time from March 8: 9 am is 13:00 UTC, not 14:00.
    assert_eq!(
        a.starts_at.map(|t| t.to_string()).as_deref(),
        Some("2026-03-09T13:00:00Z")
    );
    assert_eq!(a.duration_minutes, 45);
    let rule = a.recurrence.as_ref().map(|r| r.to_rule_json()).unwrap();
    assert_eq!(
        rule,
        serde_json::json!({"FREQ": "WEEKLY", "INTERVAL": 1, "COUNT": 6})
    );
    // The stored rule is one the recurrence rules accept.
    assert!(indra_rules::clinical::recurrence::RecurrenceRule::from_json(&rule).is_ok());

    // A time inside the spring-forward gap moves forward, as the recurrence rules do.
    let found = actions("Nora Quill, 45 minutes. See her March 8 at 2:30 am.", &ctx);
    let Some(ProposedAction::CreateAppointment(a)) = found.last() else {
        panic!("{found:?}");
    };
    assert_eq!(
        a.starts_at.map(|t| t.to_string()).as_deref(),
        Some("2026-03-08T07:30:00Z")
    );

    // An appointment the patient already has is not proposed again.
    let mut booked = ctx.clone();
    booked.patients[0]
        .upcoming_appointments
        .push(indra_ai::dictation::UpcomingAppointment {
            start: datetime(2026, 3, 8, 2, 30, 0, 0),
            duration_minutes: 45,
        });
    let found = actions(
        "Nora Quill, 45 minutes. See her March 8 at 2:30 am.",
        &booked,
    );
    assert!(
        !found
            .iter()
            .any(|a| matches!(a, ProposedAction::CreateAppointment(_)))
    );
}

#[test]
fn questions_come_one_at_a_time_and_answers_resume_the_reading() {
    let mut ctx = context(
        "LCSW",
        NoteFormat::Dap,
        vec![patient("a", "Nora", "Quill"), patient("b", "Nora", "Vance")],
    );
    let input = "Saw Nora today, she talked about her move.";
    let q = question(input, &ctx);
    assert_eq!(q.topic, ClarificationTopic::Patient);
    let ids: Vec<&str> = q.options.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(q.options[0].label.contains("Nora Quill"));
    // The evidence is the name said.
    assert_eq!(q.evidence, vec![std::ops::Range { start: 4, end: 8 }]);

    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::Patient,
        option_id: Some("b".to_owned()),
        text: None,
    });
    let q = question(input, &ctx);
    assert_eq!(q.topic, ClarificationTopic::Duration);

    // An answer that says nothing usable asks again.
    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::Duration,
        option_id: None,
        text: Some("not sure".to_owned()),
    });
    assert_eq!(question(input, &ctx).topic, ClarificationTopic::Duration);

    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::Duration,
        option_id: None,
        text: Some("about forty minutes".to_owned()),
    });
    let found = actions(input, &ctx);
    let Some(ProposedAction::CreateEncounter(e)) = found.first() else {
        panic!("{found:?}");
    };
    assert_eq!((e.patient_id.as_str(), e.duration_minutes), ("b", 40));
    assert_eq!(e.encounter_type, EncounterKind::IndividualTherapy);
}

#[test]
fn a_patient_answer_naming_no_offered_patient_asks_again() {
    let mut ctx = context(
        "LCSW",
        NoteFormat::Dap,
        vec![patient("a", "Nora", "Quill"), patient("b", "Nora", "Vance")],
    );
    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::Patient,
        option_id: Some("someone-else".to_owned()),
        text: None,
    });
    assert_eq!(
        question("Saw Nora, 40 minutes.", &ctx).topic,
        ClarificationTopic::Patient
    );
}

#[test]
fn evidence_is_in_characters_of_the_dictation() {
    let mut ctx = therapist();
    ctx.patients[0].first_name = "Zoë".to_owned();
    ctx.patients[0].last_name = "Ñúñez".to_owned();
    let input = "Séance: Zoë Ñúñez, 50 minutes. Start sertraline 25 mg daily.";
    let found = actions(input, &ctx);
    let chars: Vec<char> = input.chars().collect();
    let text = |r: &std::ops::Range<usize>| chars[r.clone()].iter().collect::<String>();
    let Some(ProposedAction::CreateEncounter(e)) = found.first() else {
        panic!("{found:?}");
    };
    let spans: Vec<String> = e.evidence.iter().map(text).collect();
    assert_eq!(spans, ["Zoë Ñúñez", "50 minutes"]);
    let med = found
        .iter()
        .find_map(|a| match a {
            ProposedAction::UpdateMedication(m) => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(med.change, MedicationChange::Started);
    assert_eq!(text(&med.evidence[0]), "Start sertraline 25 mg daily");
}

#[test]
fn notes_have_the_sections_of_the_providers_format() {
    for (format, keys) in [
        (
            NoteFormat::Soap,
            vec!["assessment", "objective", "plan", "subjective"],
        ),
        (NoteFormat::Dap, vec!["assessment", "data", "plan"]),
        (
            NoteFormat::Birp,
            vec!["behavior", "intervention", "plan", "response"],
        ),
    ] {
        let ctx = context("LPC", format, vec![patient("p1", "Nora", "Quill")]);
        let found = actions(
            "Nora Quill, 50 minutes. She reports better sleep. Plan: continue.",
            &ctx,
        );
        let note = found
            .iter()
            .find_map(|a| match a {
                ProposedAction::CreateNoteDraft(n) => Some(n),
                _ => None,
            })
            .unwrap();
        assert_eq!(note.format, format.code());
        assert_eq!(
            note.sections.keys().map(String::as_str).collect::<Vec<_>>(),
            keys
        );
        assert_eq!(note.sections["plan"], "Continue.");
    }
}

#[test]
fn an_unnamed_dose_change_is_the_only_medication_or_a_question() {
    let mut one = patient("p1", "Nora", "Quill");
    one.medications = vec![Medication {
        name: "sertraline".to_owned(),
        dose: Some("50 mg".to_owned()),
        frequency: Some("daily".to_owned()),
    }];
    let ctx = context("MD", NoteFormat::Soap, vec![one.clone()]);
    let input = "Med check with Nora Quill, 20 minutes. Increase her dose to 100 mg.";
    let found = actions(input, &ctx);
    assert!(found.iter().any(|a| matches!(a,
        ProposedAction::UpdateMedication(m) if m.name == "sertraline" && m.dose.as_deref() == Some("100 mg"))));

    let mut two = one;
    two.medications.push(Medication {
        name: "trazodone".to_owned(),
        dose: Some("50 mg".to_owned()),
        frequency: None,
    });
    let mut ctx = context("MD", NoteFormat::Soap, vec![two]);
    let q = question(input, &ctx);
    assert_eq!(q.topic, ClarificationTopic::Medication);
    assert_eq!(q.options.len(), 2);
    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::Medication,
        option_id: Some("trazodone".to_owned()),
        text: None,
    });
    assert!(actions(input, &ctx).iter().any(|a| matches!(a,
        ProposedAction::UpdateMedication(m) if m.name == "trazodone")));
}

#[test]
fn group_notes_keep_each_members_own_sentences() {
    let ctx = context(
        "LCSW",
        NoteFormat::Dap,
        vec![patient("a", "Ahmed", "Khan"), patient("b", "Beth", "Lowry")],
    );
    let found = actions(
        "Process group, 60 minutes, Ahmed Khan and Beth Lowry attended. Ahmed described the flood. \
         He was tearful. Beth was quiet. Carla offered support to Ahmed.",
        &ctx,
    );
    let notes: Vec<(&str, &str)> = found
        .iter()
        .filter_map(|a| match a {
            ProposedAction::CreateNoteDraft(n) => {
                Some((n.patient_id.as_str(), n.sections["data"].as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 2);
    assert!(
        notes[0].1.contains("tearful") && !notes[0].1.contains("Beth"),
        "{notes:?}"
    );
    assert!(
        notes[1].1.contains("quiet") && !notes[1].1.contains("Ahmed"),
        "{notes:?}"
    );
}

#[test]
fn two_session_types_in_the_header_are_a_question() {
    let mut ctx = therapist();
    let input = "Individual and family session with Nora Quill, 50 minutes.";
    let q = question(input, &ctx);
    assert_eq!(q.topic, ClarificationTopic::EncounterType);
    let ids: Vec<&str> = q.options.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["individual_therapy", "family_therapy"]);
    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::EncounterType,
        option_id: Some("family_therapy".to_owned()),
        text: None,
    });
    assert_eq!(billed(input, &ctx), codes(&[("90847", 1)]));
}

#[test]
fn alternative_days_are_offered_as_dated_options() {
    let mut ctx = therapist();
    // 2026-03-05 is a Thursday: "next week" is March 9-15.
    let input = "Nora Quill, 50 minutes. Book her next week on Tuesday or Friday at 4.";
    let q = question(input, &ctx);
    assert_eq!(q.topic, ClarificationTopic::DateTime);
    let ids: Vec<&str> = q.options.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["2026-03-10T16:00", "2026-03-13T16:00"]);
    assert_eq!(q.options[1].label, "Friday, March 13 at 4:00 PM");
    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::DateTime,
        option_id: Some("2026-03-13T16:00".to_owned()),
        text: None,
    });
    let found = actions(input, &ctx);
    assert!(found.iter().any(|a| matches!(a,
        ProposedAction::CreateAppointment(x) if x.start == datetime(2026, 3, 13, 16, 0, 0, 0))));
}

/// Whatever is dictated, the parser answers: every prefix of every corpus dictation (cut mid-word,
/// mid-number, mid-name) and some noise.
#[test]
fn no_dictation_makes_the_parser_panic() {
    let corpus = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/dictations.jsonl"),
    )
    .unwrap();
    let cases = indra_ai::eval::Case::parse_jsonl(&corpus).unwrap();
    let mut inputs: Vec<String> = vec![
        String::new(),
        " ".to_owned(),
        "...".to_owned(),
        "at at at 99:99 pm the 99th of Smarch".to_owned(),
        "from 11:59 to 0:00, 1.5.5 hours, -3 minutes, 4294967296 minutes".to_owned(),
        "İstanbul ǅemal ß ﬁ 🙂 Ñ".to_owned(),
        "increase to mg; switch from to; F. F99.99999 adding".to_owned(),
        "Nora Quill, 4294967295 hours, in 99999999 weeks at 3, 99999 minutes total".to_owned(),
        "Nora Quill 50 min. See her in 4000000000 months at 9 and the 31st at 2.".to_owned(),
    ];
    for case in cases.iter().step_by(3) {
        let chars: Vec<char> = case.input.chars().collect();
        for cut in (0..chars.len()).step_by(17) {
            inputs.push(chars[..cut].iter().collect());
        }
    }
    let ctx = context(
        "MD",
        NoteFormat::Birp,
        vec![patient("a", "Nora", "Quill"), patient("b", "Jane", "Doe")],
    );
    for input in &inputs {
        let _ = interpret(input, &ctx);
    }
}

#[test]
fn every_action_has_evidence_even_when_the_answers_supplied_the_facts() {
    let mut ctx = context(
        "LCSW",
        NoteFormat::Soap,
        vec![patient("a", "Nora", "Quill"), patient("b", "Jane", "Doe")],
    );
    let input = "Saw her today.";
    assert_eq!(question(input, &ctx).topic, ClarificationTopic::Patient);
    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::Patient,
        option_id: Some("b".to_owned()),
        text: None,
    });
    ctx.answers.push(ClarificationAnswer {
        topic: ClarificationTopic::Duration,
        option_id: None,
        text: Some("45".to_owned()),
    });
    let found = actions(input, &ctx);
    assert_eq!(found.len(), 3, "{found:?}");
    for action in &found {
        assert_eq!(action.patient_id(), "b");
        assert!(!action.evidence().is_empty(), "{action:?}");
    }
}
