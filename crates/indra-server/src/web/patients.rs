//! `GET /patients`: the practice's patients, searched by name or MRN. Row-level security decides
//! what each role sees; the chart itself comes with the clinical workflows.

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use time::Date;
use uuid::Uuid;

use crate::web::error::WebError;
use crate::web::page::{Layout, PageTx, Section, filled, render};

/// Patients shown at most; a longer list asks for a narrower search.
const LIMIT: i64 = 100;

#[derive(Debug, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Debug, sqlx::FromRow)]
struct PatientRow {
    id: Uuid,
    name: String,
    preferred_name: Option<String>,
    mrn: String,
    date_of_birth: Date,
    status: String,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    layout: Layout,
    q: String,
    patients: Vec<PatientRow>,
    more: bool,
}

pub async fn list(mut db: PageTx, Query(search): Query<Search>) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::Patients).await?;
    let pattern = filled(&search.q).map(|q| format!("%{}%", like_escaped(q)));
    let mut patients: Vec<PatientRow> = sqlx::query_as(
        "select id, last_name || ', ' || first_name as name,
                nullif(btrim(preferred_name), '') as preferred_name,
                mrn, date_of_birth, status::text as status
           from patients
          where $1::text is null
             or last_name ilike $1 or first_name ilike $1 or preferred_name ilike $1
             or (first_name || ' ' || last_name) ilike $1 or mrn ilike $1
          order by lower(last_name), lower(first_name), id
          limit $2",
    )
    .bind(pattern)
    .bind(LIMIT + 1)
    .fetch_all(db.conn())
    .await?;
    db.commit().await?;
    let more = patients.len() > LIMIT as usize;
    patients.truncate(LIMIT as usize);
    render(
        StatusCode::OK,
        &PatientsPage {
            layout,
            q: search.q.trim().to_owned(),
            patients,
            more,
        },
    )
}

/// `50%_off\` -> `50\%\_off\\`: the search text matched literally inside an ILIKE pattern.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_literal() {
        assert_eq!(like_escaped(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(like_escaped("Rivera"), "Rivera");
    }
}
