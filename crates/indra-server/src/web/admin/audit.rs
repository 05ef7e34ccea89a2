//! `GET /admin/audit`: the practice's audit log, newest first, and whether its hash chain
//! verifies. Everything is read through the admin's own transaction: row-level security shows
//! an admin their own organization's rows and chain head, nothing else.

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use sqlx::Connection;
use time::{Date, Month};
use uuid::Uuid;

use indra_db::audit::verify::verify_org_chain_as_caller;

use crate::web::error::WebError;
use crate::web::page::{Choice, Layout, PageTx, Section, filled, render, url_encoded};

/// Rows per page.
const PAGE_SIZE: i64 = 100;

/// The filters, as the form sends them (all optional), and the page (`before` a `seq`).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// A patient's id or MRN.
    #[serde(default)]
    patient: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    table: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: String,
    user_name: Option<String>,
    actor_role: Option<String>,
    action: String,
    table_name: String,
    record_id: Option<Uuid>,
    changed_fields: Option<String>,
}

/// The chain's state, as the page reports it.
enum Chain {
    Verified { rows: usize },
    Broken { detail: String },
    NotChecked,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    chain: Chain,
    time_zone: String,
    filters: Filters,
    problems: Vec<&'static str>,
    users: Vec<Choice>,
    tables: Vec<Choice>,
    rows: Vec<AuditRow>,
    older: Option<String>,
    is_first_page: bool,
}

pub async fn page(mut db: PageTx, Query(filters): Query<Filters>) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::AdminAudit).await?;
    if !db.is_admin() {
        return Err(layout.forbidden("only admins read the audit log"));
    }
    let org_id = db.caller.org_id;
    let mut problems: Vec<&'static str> = Vec::new();

    // A filter that does not parse is reported and matches nothing, rather than ignored: an
    // unfiltered list under a filter the admin believes applied would mislead.
    let patient_id = match filled(&filters.patient) {
        None => None,
        Some(text) => match Uuid::parse_str(text) {
            Ok(id) => Some(id),
            Err(_) => {
                let id: Option<Uuid> =
                    sqlx::query_scalar("select id from patients where mrn = $1 or mrn = upper($1)")
                        .bind(text)
                        .fetch_optional(db.conn())
                        .await?;
                if id.is_none() {
                    problems.push("Patient: no patient of the practice has this id or MRN.");
                }
                id
            }
        },
    };
    let user_id = filled(&filters.user).and_then(|u| Uuid::parse_str(u).ok());
    if user_id.is_none() && filled(&filters.user).is_some() {
        problems.push("User: choose a user from the list.");
    }
    let from = filled(&filters.from).and_then(parse_date);
    if from.is_none() && filled(&filters.from).is_some() {
        problems.push("From: a date such as 2026-03-31.");
    }
    let to = filled(&filters.to).and_then(parse_date);
    if to.is_none() && filled(&filters.to).is_some() {
        problems.push("To: a date such as 2026-03-31.");
    }
    let before = filled(&filters.before).and_then(|b| b.parse::<i64>().ok());
    let table = filled(&filters.table).map(str::to_owned);
    let matches_nothing = !problems.is_empty();

    let time_zone: String = sqlx::query_scalar("select time_zone from organizations where id = $1")
        .bind(org_id)
        .fetch_one(db.conn())
        .await?;
    let mut rows: Vec<AuditRow> = if matches_nothing {
        Vec::new()
    } else {
        sqlx::query_as(
            "select l.seq,
                    to_char(l.occurred_at at time zone o.time_zone, 'YYYY-MM-DD HH24:MI:SS') as at,
                    u.full_name as user_name, l.actor_role, l.action, l.table_name, l.record_id,
                    array_to_string(l.changed_fields, ', ') as changed_fields
               from audit_log l
               join organizations o on o.id = l.org_id
               left join users u on u.org_id = l.org_id and u.id = l.actor_user_id
              where l.org_id = $1
                and ($2::uuid is null or l.patient_id = $2)
                and ($3::uuid is null or l.actor_user_id = $3)
                and ($4::text is null or l.table_name = $4)
                and ($5::date is null or l.occurred_at >= $5::timestamp at time zone o.time_zone)
                and ($6::date is null or l.occurred_at < ($6 + 1)::timestamp at time zone o.time_zone)
                and ($7::bigint is null or l.seq < $7)
              order by l.seq desc
              limit $8",
        )
        .bind(org_id)
        .bind(patient_id)
        .bind(user_id)
        .bind(&table)
        .bind(from)
        .bind(to)
        .bind(before)
        .bind(PAGE_SIZE + 1)
        .fetch_all(db.conn())
        .await?
    };
    let users: Vec<(Uuid, String)> =
        sqlx::query_as("select id, full_name from users order by lower(full_name), id")
            .fetch_all(db.conn())
            .await?;
    // The tables the log names, one index probe each (a loose index scan).
    let tables: Vec<String> = sqlx::query_scalar(
        "with recursive t(name) as (
             (select table_name from audit_log where org_id = $1 order by table_name limit 1)
             union all
             select (select a.table_name from audit_log a
                      where a.org_id = $1 and a.table_name > t.name order by a.table_name limit 1)
               from t where t.name is not null)
         select name from t where name is not null",
    )
    .bind(org_id)
    .fetch_all(db.conn())
    .await?;
    let chain = verify_chain(&mut db, org_id).await?;
    db.commit().await?;

    let older = (rows.len() > PAGE_SIZE as usize)
        .then(|| rows.get(PAGE_SIZE as usize - 1).map(|r| r.seq))
        .flatten()
        .map(|seq| older_link(&filters, seq));
    rows.truncate(PAGE_SIZE as usize);
    let users = users
        .into_iter()
        .map(|(id, name)| Choice::new(id.to_string(), name, filters.user.trim()))
        .collect();
    let tables = tables
        .into_iter()
        .map(|name| Choice::new(name.clone(), name, filters.table.trim()))
        .collect();
    render(
        StatusCode::OK,
        &AuditPage {
            layout,
            chain,
            time_zone,
            is_first_page: before.is_none(),
            filters,
            problems,
            users,
            tables,
            rows,
            older,
        },
    )
}

/// Recomputes the organization's chain in a savepoint: a chain too long for the statement
/// timeout is reported as not checked, and the page still shows.
async fn verify_chain(db: &mut PageTx, org_id: Uuid) -> Result<Chain, WebError> {
    let mut savepoint = db.conn().begin().await?;
    let report = verify_org_chain_as_caller(&mut savepoint, org_id).await;
    savepoint.rollback().await?;
    Ok(match report {
        Ok(report) => match report.broken {
            None => Chain::Verified { rows: report.rows },
            Some(broken) => {
                tracing::warn!(%org_id, seq = broken.seq, "the audit chain does not verify");
                Chain::Broken {
                    detail: broken.to_string(),
                }
            }
        },
        Err(error) => {
            tracing::warn!(%org_id, error = %error, "the audit chain could not be verified");
            Chain::NotChecked
        }
    })
}

/// `2026-03-31` (what a date input sends) as a date.
fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// The next page's address: the same filters, rows before `seq`.
fn older_link(filters: &Filters, seq: i64) -> String {
    let mut link = format!("/admin/audit?before={seq}");
    for (name, value) in [
        ("patient", &filters.patient),
        ("user", &filters.user),
        ("table", &filters.table),
        ("from", &filters.from),
        ("to", &filters.to),
    ] {
        if let Some(value) = filled(value) {
            link.push_str(&format!("&{name}={}", url_encoded(value)));
        }
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_as_a_date_input_sends_them() {
        assert_eq!(
            parse_date("2026-03-31"),
            Date::from_calendar_date(2026, Month::March, 31).ok()
        );
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn the_older_link_keeps_the_filters() {
        let filters = Filters {
            patient: "P-1 2".into(),
            table: "patients".into(),
            ..Filters::default()
        };
        assert_eq!(
            older_link(&filters, 42),
            "/admin/audit?before=42&patient=P-1%202&table=patients"
        );
    }
}
