//! `/patients/{id}/plan`: a patient's treatment plan (the current version, or an older one) and
//! its versions, and for a clinician the editor: a new plan, a draft's changes, a revision of a
//! signed plan, and signing. Every change goes through the plans API's handlers, so the page
//! follows the same rules (the author alone edits and signs a draft, a signed plan only gets a
//! new version, problems are active diagnoses); row-level security decides who reads what.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{Date, Duration};
use uuid::Uuid;

use crate::api::etag::etag_of;
use crate::api::extract;
use crate::clinical::plans::practice_today;
use crate::clinical::plans::treatment_plans::{
    NewTreatmentPlan, PlanContentDoc, PlanRevision, TreatmentPlan, TreatmentPlanChange,
    TreatmentPlanStatus, create_plan, list_patient_plans, revise_plan, sign_plan, update_draft,
};
use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Reopen, Section, filled, render};

/// Rows the editor offers at least (empty rows are ignored): problems, goals per problem,
/// objectives per goal, interventions per problem.
const PROBLEM_ROWS: usize = 2;
const GOAL_ROWS: usize = 3;
const OBJECTIVE_ROWS: usize = 3;
const INTERVENTION_ROWS: usize = 3;
/// A posted form names no row beyond this index (the plan's own limit is 50 per list).
const MAX_ROW_INDEX: usize = 50;
/// A signed plan is marked "due for review" this many days before its review date (as on Today).
const REVIEW_WINDOW_DAYS: i64 = 14;

/// The patient the page is about.
#[derive(Debug, sqlx::FromRow)]
struct PatientLine {
    id: Uuid,
    first_name: String,
    last_name: String,
    mrn: String,
}

/// One of the patient's active diagnoses, offered for a problem.
#[derive(Debug, Clone, sqlx::FromRow)]
struct DiagnosisChoice {
    icd10_code: String,
    description: String,
}

/// A version as the list shows it.
struct VersionLine {
    id: Uuid,
    version: i32,
    status: &'static str,
    effective_on: Date,
    review_due_on: Date,
    signed_on: Option<Date>,
    shown: bool,
}

/// Where a plan's review stands.
#[derive(PartialEq, Eq)]
enum Review {
    NotDue,
    DueSoon,
    Overdue,
}

#[derive(Debug, Default, Deserialize)]
pub struct PlanQuery {
    version: Option<String>,
    saved: Option<String>,
    signed: Option<String>,
}

#[derive(Template)]
#[template(path = "plan.html")]
struct PlanPage {
    layout: Layout,
    patient: PatientLine,
    /// The version shown, and its content.
    plan: Option<TreatmentPlan>,
    content: Option<PlanContentDoc>,
    /// The shown version's etag without quotes, for the sign form.
    tag: String,
    review: Review,
    versions: Vec<VersionLine>,
    diagnoses: Vec<DiagnosisChoice>,
    /// Whether the caller writes plans (a clinician): the editor's links and the sign form.
    may_write: bool,
    /// What the patient's current version is: none, a draft or a signed plan.
    current_status: Option<TreatmentPlanStatus>,
    notice: Option<&'static str>,
    problem: Option<String>,
}

impl PlanPage {
    fn diagnosis(&self, code: &str) -> String {
        self.diagnoses
            .iter()
            .find(|d| d.icd10_code == code)
            .map_or_else(String::new, |d| d.description.clone())
    }

    fn status_of(&self, status: &TreatmentPlanStatus) -> &'static str {
        status_word(*status)
    }

    fn is_draft(&self) -> bool {
        self.plan
            .as_ref()
            .is_some_and(|p| p.status == TreatmentPlanStatus::Draft)
    }

    fn is_current_signed(&self) -> bool {
        self.plan
            .as_ref()
            .is_some_and(|p| p.is_current && p.status == TreatmentPlanStatus::Signed)
    }
}

fn status_word(status: TreatmentPlanStatus) -> &'static str {
    match status {
        TreatmentPlanStatus::Draft => "draft",
        TreatmentPlanStatus::Signed => "signed",
        TreatmentPlanStatus::Superseded => "superseded",
    }
}

/// The shown version's etag, as the hidden field carries it (without the quotes).
fn bare_tag(plan: &TreatmentPlan) -> String {
    etag_of(plan).trim_matches('"').to_owned()
}

/// What the page reads besides the plans: the patient, the active diagnoses, today.
struct Context {
    patient: PatientLine,
    diagnoses: Vec<DiagnosisChoice>,
    today: Date,
}

/// The patient's plan versions through the API's handler (404 for a patient the caller does
/// not see), then the rest in a new transaction.
async fn load(
    db: PageTx,
    patient_id: Uuid,
) -> Result<(Vec<TreatmentPlan>, Context, Layout), WebError> {
    let (tx, reopen) = db.into_api();
    let listed = list_patient_plans(tx, extract::Path(patient_id)).await;
    let mut db = reopen.open().await?;
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let plans = match listed {
        Ok(list) => list.0.items,
        Err(ApiError::NotFound) => return Err(WebError::not_found().with_layout(layout)),
        Err(other) => return Err(WebError::new(other).with_layout(layout)),
    };
    let patient: PatientLine =
        sqlx::query_as("select id, first_name, last_name, mrn from patients where id = $1")
            .bind(patient_id)
            .fetch_one(db.conn())
            .await?;
    let diagnoses: Vec<DiagnosisChoice> = sqlx::query_as(
        "select d.icd10_code, c.description
           from patient_diagnoses d join icd10_codes c on c.code = d.icd10_code
          where d.patient_id = $1 and d.status = 'active'
          order by d.is_primary desc, d.diagnosed_on, d.created_at",
    )
    .bind(patient_id)
    .fetch_all(db.conn())
    .await?;
    let today = practice_today(&mut db).await?;
    db.commit().await?;
    Ok((
        plans,
        Context {
            patient,
            diagnoses,
            today,
        },
        layout,
    ))
}

/// Only clinicians and admins read treatment plans (row-level security hides them from the
/// others); this says so instead of showing an empty page.
fn reads_plans(role: UserRole) -> bool {
    matches!(role, UserRole::Provider | UserRole::Admin)
}

/// The patient id of the path, or the 404 page.
async fn patient_id(db: &mut PageTx, id: &str) -> Result<Uuid, WebError> {
    match Uuid::parse_str(id) {
        Ok(id) => Ok(id),
        Err(_) => {
            let layout = Layout::load(db, Section::Patients).await?;
            Err(WebError::not_found().with_layout(layout))
        }
    }
}

/// `GET /patients/{id}/plan`: the current version (or `?version=`) and the version list.
pub async fn page(
    mut db: PageTx,
    Path(id): Path<String>,
    Query(query): Query<PlanQuery>,
) -> Result<Response, WebError> {
    let notice = if query.signed.is_some() {
        Some("Plan signed. It is now part of the record; changes need a new version.")
    } else if query.saved.is_some() {
        Some("Draft saved.")
    } else {
        None
    };
    let version = query
        .version
        .as_deref()
        .and_then(|v| Uuid::parse_str(v).ok());
    let patient_id = patient_id(&mut db, &id).await?;
    show(db, patient_id, version, StatusCode::OK, notice, None).await
}

async fn show(
    mut db: PageTx,
    patient_id: Uuid,
    version: Option<Uuid>,
    status: StatusCode,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<Response, WebError> {
    let role = db.caller.role;
    if !reads_plans(role) {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(layout.forbidden("treatment plans are read by clinicians and admins"));
    }
    let (plans, context, layout) = load(db, patient_id).await?;
    let current_status = plans.iter().find(|p| p.is_current).map(|p| p.status);
    let shown = version
        .and_then(|v| plans.iter().find(|p| p.id == v))
        .or_else(|| plans.iter().find(|p| p.is_current))
        .or_else(|| plans.first())
        .cloned();
    let content = shown
        .as_ref()
        .and_then(|p| serde_json::from_value::<PlanContentDoc>(p.content.clone()).ok());
    let review = match &shown {
        Some(p) if p.is_current && p.status == TreatmentPlanStatus::Signed => {
            if p.review_due_on < context.today {
                Review::Overdue
            } else if p.review_due_on <= context.today + Duration::days(REVIEW_WINDOW_DAYS) {
                Review::DueSoon
            } else {
                Review::NotDue
            }
        }
        _ => Review::NotDue,
    };
    let versions = plans
        .iter()
        .map(|p| VersionLine {
            id: p.id,
            version: p.version,
            status: status_word(p.status),
            effective_on: p.effective_on,
            review_due_on: p.review_due_on,
            signed_on: p.signed_at.map(|at| at.date()),
            shown: shown.as_ref().is_some_and(|s| s.id == p.id),
        })
        .collect();
    render(
        status,
        &PlanPage {
            layout,
            patient: context.patient,
            tag: shown.as_ref().map(bare_tag).unwrap_or_default(),
            plan: shown,
            content,
            review,
            versions,
            diagnoses: context.diagnoses,
            may_write: role == UserRole::Provider,
            current_status,
            notice,
            problem,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The editor

/// What the editor does on save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A first plan for the patient.
    New,
    /// Changes to the current draft (with its etag).
    Edit,
    /// A new version of the current signed plan.
    Revise,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Edit => "edit",
            Self::Revise => "revise",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "new" => Some(Self::New),
            "edit" => Some(Self::Edit),
            "revise" => Some(Self::Revise),
            _ => None,
        }
    }
}

/// The form's fields are named by their path in the plan's content
/// (`problems[0].goals[1].objectives[0].target_date`), the path the API names in a refusal.
#[derive(Debug, Default, Clone)]
struct ObjectiveRow {
    path: String,
    objective: String,
    target_date: String,
}

#[derive(Debug, Default, Clone)]
struct GoalRow {
    path: String,
    goal: String,
    measure: String,
    objectives: Vec<ObjectiveRow>,
}

#[derive(Debug, Default, Clone)]
struct InterventionRow {
    path: String,
    intervention: String,
    frequency: String,
}

#[derive(Debug, Default, Clone)]
struct ProblemRow {
    path: String,
    icd10_code: String,
    statement: String,
    goals: Vec<GoalRow>,
    interventions: Vec<InterventionRow>,
}

#[derive(Debug, Clone)]
struct PlanForm {
    mode: Mode,
    plan_id: Option<Uuid>,
    /// The etag of the draft being edited, without quotes.
    tag: String,
    effective_on: String,
    review_due_on: String,
    problems: Vec<ProblemRow>,
}

fn blank(text: &str) -> bool {
    text.trim().is_empty()
}

impl ObjectiveRow {
    fn is_empty(&self) -> bool {
        blank(&self.objective) && blank(&self.target_date)
    }
}

impl GoalRow {
    fn is_empty(&self) -> bool {
        blank(&self.goal) && blank(&self.measure) && self.objectives.iter().all(|o| o.is_empty())
    }
}

impl InterventionRow {
    fn is_empty(&self) -> bool {
        blank(&self.intervention) && blank(&self.frequency)
    }
}

impl ProblemRow {
    fn is_empty(&self) -> bool {
        blank(&self.icd10_code)
            && blank(&self.statement)
            && self.goals.iter().all(|g| g.is_empty())
            && self.interventions.iter().all(|i| i.is_empty())
    }
}

/// The row at `index` of `rows`, added (empty) when missing; `None` past [`MAX_ROW_INDEX`].
fn row<T: Default>(rows: &mut Vec<T>, index: usize) -> Option<&mut T> {
    if index >= MAX_ROW_INDEX {
        return None;
    }
    if rows.len() <= index {
        rows.resize_with(index + 1, T::default);
    }
    rows.get_mut(index)
}

/// `goals[1]` -> `("goals", Some(1))`, `statement` -> `("statement", None)`.
fn segment(text: &str) -> Option<(&str, Option<usize>)> {
    match text.split_once('[') {
        None => Some((text, None)),
        Some((key, rest)) => Some((key, Some(rest.strip_suffix(']')?.parse().ok()?))),
    }
}

impl PlanForm {
    fn empty(mode: Mode) -> Self {
        Self {
            mode,
            plan_id: None,
            tag: String::new(),
            effective_on: String::new(),
            review_due_on: String::new(),
            problems: Vec::new(),
        }
    }

    /// A form holding a plan's content.
    fn from_content(mode: Mode, content: &Value) -> Self {
        let mut form = Self::empty(mode);
        if let Ok(doc) = serde_json::from_value::<PlanContentDoc>(content.clone()) {
            form.problems = doc
                .problems
                .into_iter()
                .map(|p| ProblemRow {
                    icd10_code: p.icd10_code,
                    statement: p.statement,
                    goals: p
                        .goals
                        .into_iter()
                        .map(|g| GoalRow {
                            goal: g.goal,
                            measure: g.measure,
                            objectives: g
                                .objectives
                                .into_iter()
                                .map(|o| ObjectiveRow {
                                    objective: o.objective,
                                    target_date: o.target_date,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    interventions: p
                        .interventions
                        .into_iter()
                        .map(|i| InterventionRow {
                            intervention: i.intervention,
                            frequency: i.frequency,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
        }
        form
    }

    /// The posted fields; unknown names are ignored. The CSRF token is returned apart.
    fn from_fields(fields: Vec<(String, String)>) -> (String, Option<Self>) {
        let mut csrf = String::new();
        let mut mode = None;
        let mut form = Self::empty(Mode::New);
        for (name, value) in fields {
            match name.as_str() {
                "csrf_token" => csrf = value,
                "mode" => mode = Mode::parse(&value),
                "plan_id" => form.plan_id = Uuid::parse_str(&value).ok(),
                "tag" => form.tag = value,
                "effective_on" => form.effective_on = value,
                "review_due_on" => form.review_due_on = value,
                _ => form.set(&name, value),
            }
        }
        (
            csrf,
            mode.map(|mode| {
                form.mode = mode;
                form
            }),
        )
    }

    /// Sets the field named by its content path.
    fn set(&mut self, name: &str, value: String) {
        let parts: Option<Vec<(&str, Option<usize>)>> = name.split('.').map(segment).collect();
        let Some(parts) = parts else { return };
        let [("problems", Some(p)), rest @ ..] = parts.as_slice() else {
            return;
        };
        let Some(problem) = row(&mut self.problems, *p) else {
            return;
        };
        match rest {
            [("icd10_code", None)] => problem.icd10_code = value,
            [("statement", None)] => problem.statement = value,
            [("goals", Some(g)), rest @ ..] => {
                let Some(goal) = row(&mut problem.goals, *g) else {
                    return;
                };
                match rest {
                    [("goal", None)] => goal.goal = value,
                    [("measure", None)] => goal.measure = value,
                    [("objectives", Some(o)), (field, None)] => {
                        let Some(objective) = row(&mut goal.objectives, *o) else {
                            return;
                        };
                        match *field {
                            "objective" => objective.objective = value,
                            "target_date" => objective.target_date = value,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            [("interventions", Some(i)), (field, None)] => {
                let Some(intervention) = row(&mut problem.interventions, *i) else {
                    return;
                };
                match *field {
                    "intervention" => intervention.intervention = value,
                    "frequency" => intervention.frequency = value,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Pads every list to the rows the editor offers, and names each row by its path.
    fn padded(mut self) -> Self {
        if self.problems.len() < PROBLEM_ROWS {
            self.problems.resize_with(PROBLEM_ROWS, Default::default);
        }
        for (p, problem) in self.problems.iter_mut().enumerate() {
            problem.path = format!("problems[{p}]");
            if problem.goals.len() < GOAL_ROWS {
                problem.goals.resize_with(GOAL_ROWS, Default::default);
            }
            for (g, goal) in problem.goals.iter_mut().enumerate() {
                goal.path = format!("{}.goals[{g}]", problem.path);
                if goal.objectives.len() < OBJECTIVE_ROWS {
                    goal.objectives
                        .resize_with(OBJECTIVE_ROWS, Default::default);
                }
                for (o, objective) in goal.objectives.iter_mut().enumerate() {
                    objective.path = format!("{}.objectives[{o}]", goal.path);
                }
            }
            if problem.interventions.len() < INTERVENTION_ROWS {
                problem
                    .interventions
                    .resize_with(INTERVENTION_ROWS, Default::default);
            }
            for (i, intervention) in problem.interventions.iter_mut().enumerate() {
                intervention.path = format!("{}.interventions[{i}]", problem.path);
            }
        }
        self
    }

    /// The plan's content without the empty rows, and how the content's paths map to the
    /// form's (the third goal typed becomes `goals[0]` when the first two rows are empty).
    fn content(&self) -> (Value, PathMap) {
        let mut map = PathMap::default();
        let mut problems = Vec::new();
        for (p, problem) in self.problems.iter().enumerate() {
            if problem.is_empty() {
                continue;
            }
            let content_problem = format!("problems[{}]", problems.len());
            map.add(&content_problem, &format!("problems[{p}]"));
            let mut goals = Vec::new();
            for (g, goal) in problem.goals.iter().enumerate() {
                if goal.is_empty() {
                    continue;
                }
                let content_goal = format!("{content_problem}.goals[{}]", goals.len());
                map.add(&content_goal, &format!("problems[{p}].goals[{g}]"));
                let mut objectives = Vec::new();
                for (o, objective) in goal.objectives.iter().enumerate() {
                    if objective.is_empty() {
                        continue;
                    }
                    map.add(
                        &format!("{content_goal}.objectives[{}]", objectives.len()),
                        &format!("problems[{p}].goals[{g}].objectives[{o}]"),
                    );
                    objectives.push(json!({
                        "objective": objective.objective,
                        "target_date": objective.target_date.trim(),
                    }));
                }
                goals.push(json!({
                    "goal": goal.goal,
                    "measure": goal.measure,
                    "objectives": objectives,
                }));
            }
            let mut interventions = Vec::new();
            for (i, intervention) in problem.interventions.iter().enumerate() {
                if intervention.is_empty() {
                    continue;
                }
                map.add(
                    &format!("{content_problem}.interventions[{}]", interventions.len()),
                    &format!("problems[{p}].interventions[{i}]"),
                );
                interventions.push(json!({
                    "intervention": intervention.intervention,
                    "frequency": intervention.frequency,
                }));
            }
            problems.push(json!({
                "icd10_code": problem.icd10_code.trim(),
                "statement": problem.statement,
                "goals": goals,
                "interventions": interventions,
            }));
        }
        (json!({ "problems": problems }), map)
    }
}

/// Content paths -> form paths, for the rows kept.
#[derive(Debug, Default)]
struct PathMap(Vec<(String, String)>);

impl PathMap {
    fn add(&mut self, content: &str, form: &str) {
        self.0.push((content.to_owned(), form.to_owned()));
    }

    /// The form's name for a content path: its longest mapped prefix replaced.
    fn form_path(&self, path: &str) -> String {
        self.0
            .iter()
            .filter(|(content, _)| {
                path == content
                    || path
                        .strip_prefix(content.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .max_by_key(|(content, _)| content.len())
            .map_or_else(
                || path.to_owned(),
                |(content, form)| format!("{form}{}", &path[content.len()..]),
            )
    }
}

/// A refused value, next to its field (named by its form path).
#[derive(Debug, Clone)]
struct FieldProblem {
    path: String,
    message: String,
}

/// The field errors of an API refusal: the field it names, and each `path: message` of its
/// detail (a plan's content check lists every problem it found).
fn field_problems(field: Option<&str>, detail: &str, map: &PathMap) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let content_path = |path: &str| path.strip_prefix("content.").unwrap_or(path).to_owned();
    for part in detail.split("; ") {
        if let Some((path, message)) = part.split_once(": ")
            && path.starts_with("problems")
            && !path.contains(' ')
        {
            problems.push(FieldProblem {
                path: map.form_path(path),
                message: message.to_owned(),
            });
        }
    }
    if let Some(field) = field {
        let path = map.form_path(&content_path(field));
        if !problems.iter().any(|p| p.path == path) {
            // The detail of a single-field refusal is the message itself.
            let message = detail
                .strip_prefix(&format!("{}: ", content_path(field)))
                .unwrap_or(detail);
            problems.insert(
                0,
                FieldProblem {
                    path,
                    message: message.to_owned(),
                },
            );
        }
    }
    problems
}

#[derive(Template)]
#[template(path = "plan_edit.html")]
struct EditPage {
    layout: Layout,
    patient: PatientLine,
    form: PlanForm,
    diagnoses: Vec<DiagnosisChoice>,
    /// The version being revised or edited, for the heading.
    version: Option<i32>,
    /// What went wrong, at the top of the form.
    problem: Option<String>,
    errors: Vec<FieldProblem>,
}

impl EditPage {
    /// The error of the field (or list) at `path`.`field`.
    fn error_for(&self, path: &str, field: &str) -> Option<&str> {
        let name = if path.is_empty() {
            field.to_owned()
        } else if field.is_empty() {
            path.to_owned()
        } else {
            format!("{path}.{field}")
        };
        self.errors
            .iter()
            .find(|e| e.path == name)
            .map(|e| e.message.as_str())
    }

    /// A code typed or saved before that is not an active diagnosis (any more): offered too, so
    /// that the form keeps it.
    fn unlisted_code<'a>(&self, code: &'a str) -> Option<&'a str> {
        let code_is_listed = self.diagnoses.iter().any(|d| d.icd10_code == code);
        (!blank(code) && !code_is_listed).then_some(code)
    }
}

/// `GET /patients/{id}/plan/edit`: the editor, for what the patient's current plan calls for:
/// a first plan, the draft's changes, or a revision of the signed plan (prefilled with it).
pub async fn edit(mut db: PageTx, Path(id): Path<String>) -> Result<Response, WebError> {
    let patient_id = patient_id(&mut db, &id).await?;
    editor(db, patient_id, None, StatusCode::OK, None, Vec::new()).await
}

/// Renders the editor: with the posted form after a refusal, else prefilled from the current
/// version. A stale draft's etag is renewed, so that saving again replaces the other change.
async fn editor(
    mut db: PageTx,
    patient_id: Uuid,
    posted: Option<PlanForm>,
    status: StatusCode,
    problem: Option<String>,
    errors: Vec<FieldProblem>,
) -> Result<Response, WebError> {
    if db.caller.role != UserRole::Provider {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(layout.forbidden("only clinicians write treatment plans"));
    }
    let (plans, context, layout) = load(db, patient_id).await?;
    let current = plans.iter().find(|p| p.is_current);
    let fresh = match current {
        None => PlanForm::empty(Mode::New),
        Some(plan) if plan.status == TreatmentPlanStatus::Draft => {
            let mut form = PlanForm::from_content(Mode::Edit, &plan.content);
            form.effective_on = plan.effective_on.to_string();
            form.review_due_on = plan.review_due_on.to_string();
            form
        }
        // The revision takes effect today unless the clinician says otherwise: its dates start
        // empty.
        Some(plan) => PlanForm::from_content(Mode::Revise, &plan.content),
    };
    let mut form = match posted {
        Some(posted) => posted,
        None => fresh,
    };
    if let Some(plan) = current {
        if form.mode == Mode::Edit && plan.status == TreatmentPlanStatus::Draft {
            form.tag = bare_tag(plan);
        }
        if form.mode != Mode::New {
            form.plan_id = Some(plan.id);
        }
    }
    render(
        status,
        &EditPage {
            layout,
            patient: context.patient,
            form: form.padded(),
            diagnoses: context.diagnoses,
            version: current.map(|p| p.version),
            problem,
            errors,
        },
    )
}

/// `POST /patients/{id}/plan`: saves the editor's form through the API: a new plan, the
/// draft's changes (with the etag read), or a new version of the signed plan.
pub async fn save(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (csrf, form) = PlanForm::from_fields(fields);
    db.require_csrf(&csrf)?;
    let patient_id = patient_id(&mut db, &id).await?;
    let Some(form) = form else {
        return Err(ApiError::invalid("mode", "the form was not the plan editor's").into());
    };
    let (content, map) = form.content();
    let date = |text: &str| filled(text).map(str::to_owned);
    let (tx, reopen) = db.into_api();
    let saved = match (form.mode, form.plan_id) {
        (Mode::New, _) => create_plan(
            tx,
            extract::Path(patient_id),
            HeaderMap::new(),
            extract::Json(NewTreatmentPlan {
                content,
                effective_on: date(&form.effective_on),
                review_due_on: date(&form.review_due_on),
            }),
        )
        .await
        .map(|_| ()),
        (Mode::Edit, Some(plan_id)) => {
            let mut headers = HeaderMap::new();
            if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", form.tag.trim())) {
                headers.insert(header::IF_MATCH, tag);
            }
            update_draft(
                tx,
                extract::Path(plan_id),
                headers,
                extract::Json(TreatmentPlanChange {
                    content: Some(content),
                    effective_on: date(&form.effective_on),
                    review_due_on: date(&form.review_due_on),
                }),
            )
            .await
            .map(|_| ())
        }
        (Mode::Revise, Some(plan_id)) => revise_plan(
            tx,
            extract::Path(plan_id),
            HeaderMap::new(),
            extract::Json(PlanRevision {
                content,
                effective_on: date(&form.effective_on),
                review_due_on: date(&form.review_due_on),
                sign: false,
            }),
        )
        .await
        .map(|_| ()),
        (_, None) => Err(ApiError::invalid(
            "plan_id",
            "the plan to change is missing",
        )),
    };
    match saved {
        Ok(()) => Ok(Redirect::to(&format!("/patients/{patient_id}/plan?saved=1")).into_response()),
        Err(error) => refused(reopen, patient_id, form, error, &map).await,
    }
}

/// The editor again, with the typed values and what was refused; other errors are their page.
async fn refused(
    reopen: Reopen,
    patient_id: Uuid,
    form: PlanForm,
    error: ApiError,
    map: &PathMap,
) -> Result<Response, WebError> {
    let db = reopen.open().await?;
    let (status, problem, errors) = match &error {
        ApiError::Invalid { field, detail } => {
            let errors = field_problems(field.as_deref(), detail, map);
            let problem = if errors.is_empty() {
                crate::web::page::capitalized(detail)
            } else {
                "The plan was not saved: correct the fields marked below.".to_owned()
            };
            (StatusCode::UNPROCESSABLE_ENTITY, problem, errors)
        }
        ApiError::Conflict { detail, .. } => (
            StatusCode::CONFLICT,
            format!("The plan was not saved: {detail}."),
            Vec::new(),
        ),
        ApiError::PreconditionFailed => (
            StatusCode::PRECONDITION_FAILED,
            "The plan was not saved: this draft was changed by someone else since you opened it. \
             Your values are kept below; saving again replaces the other change with yours."
                .to_owned(),
            Vec::new(),
        ),
        _ => {
            let mut db = db;
            let layout = Layout::load(&mut db, Section::Patients).await?;
            return Err(WebError::new(error).with_layout(layout));
        }
    };
    editor(db, patient_id, Some(form), status, Some(problem), errors).await
}

#[derive(Debug, Default, Deserialize)]
pub struct SignForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    plan_id: String,
    #[serde(default)]
    tag: String,
}

/// `POST /patients/{id}/plan/sign`: signs the draft the clinician read (its etag).
pub async fn sign(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<SignForm>,
) -> Result<Response, WebError> {
    db.require_csrf(&form.csrf_token)?;
    let patient_id = patient_id(&mut db, &id).await?;
    let Ok(plan_id) = Uuid::parse_str(&form.plan_id) else {
        let layout = Layout::load(&mut db, Section::Patients).await?;
        return Err(WebError::not_found().with_layout(layout));
    };
    let mut headers = HeaderMap::new();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", form.tag.trim())) {
        headers.insert(header::IF_MATCH, tag);
    }
    let (tx, reopen) = db.into_api();
    match sign_plan(tx, extract::Path(plan_id), headers).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}/plan?signed=1")).into_response()),
        Err(ApiError::PreconditionFailed) => {
            show(
                reopen.open().await?,
                patient_id,
                Some(plan_id),
                StatusCode::PRECONDITION_FAILED,
                None,
                Some(
                    "Not signed: the draft changed since you opened it. Read it again below, \
                     then sign."
                        .to_owned(),
                ),
            )
            .await
        }
        Err(ApiError::Conflict { detail, .. }) => {
            show(
                reopen.open().await?,
                patient_id,
                Some(plan_id),
                StatusCode::CONFLICT,
                None,
                Some(format!("Not signed: {detail}.")),
            )
            .await
        }
        Err(error) => {
            let mut db = reopen.open().await?;
            let layout = Layout::load(&mut db, Section::Patients).await?;
            Err(WebError::new(error).with_layout(layout))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn empty_rows_are_left_out_and_paths_map_back_to_the_form() {
        let (csrf, form) = PlanForm::from_fields(fields(&[
            ("csrf_token", "t"),
            ("mode", "new"),
            ("problems[0].icd10_code", "F41.1"),
            ("problems[0].statement", "Worry"),
            ("problems[0].goals[0].goal", ""),
            ("problems[0].goals[2].goal", "Calm"),
            ("problems[0].goals[2].measure", "GAD-7 < 10"),
            ("problems[0].goals[2].objectives[1].objective", "Breathe"),
            ("problems[0].goals[2].objectives[1].target_date", "soon"),
            ("problems[0].interventions[1].intervention", "CBT"),
            ("problems[0].interventions[1].frequency", "weekly"),
            ("problems[1].statement", ""),
            (
                "problems[99].statement",
                "ignored: past the rows a form has",
            ),
        ]));
        assert_eq!(csrf, "t");
        let form = form.unwrap();
        assert_eq!(form.problems.len(), 2);
        let (content, map) = form.content();
        let problems = content["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0]["goals"].as_array().unwrap().len(), 1);
        assert_eq!(
            problems[0]["goals"][0]["objectives"][0]["target_date"],
            "soon"
        );
        assert_eq!(
            map.form_path("problems[0].goals[0].objectives[0].target_date"),
            "problems[0].goals[2].objectives[1].target_date"
        );
        assert_eq!(
            map.form_path("problems[0].interventions[0].frequency"),
            "problems[0].interventions[1].frequency"
        );
        assert_eq!(map.form_path("problems"), "problems");
    }

    #[test]
    fn every_refused_path_of_the_detail_is_a_field_error() {
        let mut map = PathMap::default();
        map.add("problems[0]", "problems[1]");
        let errors = field_problems(
            Some("content.problems[0].statement"),
            "problems[0].statement: must not be blank; problems[0].goals: at least one goal",
            &map,
        );
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["problems[1].statement", "problems[1].goals"]);
        assert_eq!(errors[0].message, "must not be blank");
        let dates = field_problems(
            Some("review_due_on"),
            "the review date must be after the plan's effective date",
            &map,
        );
        assert_eq!(dates[0].path, "review_due_on");
        assert!(dates[0].message.starts_with("the review date"));
    }

    #[test]
    fn a_signed_plan_prefills_a_revision() {
        let content = json!({"problems": [{"icd10_code": "F41.1", "statement": "Worry",
            "goals": [{"goal": "Calm", "measure": "GAD-7", "objectives": [
                {"objective": "Breathe", "target_date": "2027-01-01"}]}],
            "interventions": [{"intervention": "CBT", "frequency": "weekly"}]}]});
        let form = PlanForm::from_content(Mode::Revise, &content).padded();
        assert_eq!(form.problems.len(), PROBLEM_ROWS);
        assert_eq!(form.problems[0].goals.len(), GOAL_ROWS);
        assert_eq!(
            form.problems[0].goals[0].objectives[0].path,
            "problems[0].goals[0].objectives[0]"
        );
        assert_eq!(
            form.problems[0].goals[0].objectives[0].target_date,
            "2027-01-01"
        );
        assert_eq!(form.content().0, content);
    }
}
