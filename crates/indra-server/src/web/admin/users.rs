//! `/admin/users`: the practice's users; admins add them, change their role, deactivate and
//! reactivate them. Users are never deleted. A new user is created the way the API creates one:
//! the row under the admin's transaction, then its first password through `app.set_password`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::Connection;
use uuid::Uuid;

use crate::error::ApiError;
use crate::platform::caller::UserRole;
use crate::platform::passwords::{MIN_PASSWORD_LENGTH, hash_password_off_thread};
use crate::web::error::WebError;
use crate::web::page::{Choice, FieldError, Layout, PageTx, Section, filled, render};

const ROLES: [UserRole; 4] = [
    UserRole::Admin,
    UserRole::Provider,
    UserRole::Billing,
    UserRole::Staff,
];

const ADMINS_ONLY: &str = "only admins manage the practice's users";

#[derive(Debug, sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    full_name: String,
    email: String,
    role: String,
    is_active: bool,
}

/// A user as the table shows them, with the choices of their role form.
struct UserLine {
    user: UserRow,
    is_self: bool,
    roles: Vec<Choice>,
}

/// What the new-user form shows: empty, or what was typed when it was refused. Never the
/// password.
#[derive(Debug, Default)]
struct NewUserValues {
    full_name: String,
    email: String,
    role: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserLine>,
    notice: Option<String>,
    error: Option<FieldError>,
    new_user: NewUserValues,
    roles: Vec<Choice>,
    min_password_length: usize,
}

impl UsersPage {
    /// Whether the refused form's error is about `field`.
    fn invalid(&self, field: &str) -> bool {
        self.error.as_ref().is_some_and(|e| e.field == field)
    }
}

/// Which change the page reports, after a form redirected back to it.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    added: Option<String>,
    changed: Option<String>,
    deactivated: Option<String>,
    reactivated: Option<String>,
}

pub async fn page(mut db: PageTx, Query(notice): Query<Notice>) -> Result<Response, WebError> {
    let layout = Layout::load(&mut db, Section::AdminUsers).await?;
    if !db.is_admin() {
        return Err(layout.forbidden(ADMINS_ONLY));
    }
    show(
        db,
        layout,
        StatusCode::OK,
        Some(notice),
        None,
        NewUserValues::default(),
    )
    .await
}

/// Renders the page; `error` names the field of a refused form, `values` refills the form.
async fn show(
    mut db: PageTx,
    layout: Layout,
    status: StatusCode,
    notice: Option<Notice>,
    error: Option<FieldError>,
    values: NewUserValues,
) -> Result<Response, WebError> {
    let rows: Vec<UserRow> = sqlx::query_as(
        "select id, full_name, email::text as email, role::text as role, is_active
           from users order by is_active desc, lower(full_name), id",
    )
    .fetch_all(db.conn())
    .await?;
    let self_id = db.caller.user_id;
    db.commit().await?;
    let notice = notice.and_then(|n| notice_text(&n, &rows));
    let users = rows
        .into_iter()
        .map(|user| UserLine {
            is_self: user.id == self_id,
            roles: role_choices(&user.role),
            user,
        })
        .collect();
    let role = if values.role.is_empty() {
        UserRole::Staff.as_str()
    } else {
        values.role.as_str()
    };
    let roles = role_choices(role);
    render(
        status,
        &UsersPage {
            layout,
            users,
            notice,
            error,
            new_user: values,
            roles,
            min_password_length: MIN_PASSWORD_LENGTH,
        },
    )
}

fn role_choices(current: &str) -> Vec<Choice> {
    ROLES
        .iter()
        .map(|r| Choice::new(r.as_str(), r.as_str(), current))
        .collect()
}

/// The sentence a redirect's notice stands for, naming the user it is about.
fn notice_text(notice: &Notice, rows: &[UserRow]) -> Option<String> {
    let name = |id: &Option<String>| {
        let id = Uuid::parse_str(id.as_deref()?).ok()?;
        rows.iter().find(|u| u.id == id)
    };
    if let Some(user) = name(&notice.added) {
        Some(format!(
            "Added {} ({}). They can sign in now.",
            user.full_name, user.role
        ))
    } else if let Some(user) = name(&notice.changed) {
        Some(format!("{} is now {}.", user.full_name, user.role))
    } else if let Some(user) = name(&notice.deactivated) {
        Some(format!(
            "Deactivated {}: they can no longer sign in, and their open sessions stopped.",
            user.full_name
        ))
    } else {
        name(&notice.reactivated).map(|user| format!("Reactivated {}.", user.full_name))
    }
}

/// Opens the page's layout for a form's handler after checking its CSRF token and the role.
async fn admin_form(db: &mut PageTx, csrf_token: &str) -> Result<Layout, WebError> {
    db.require_csrf(csrf_token)?;
    let layout = Layout::load(db, Section::AdminUsers).await?;
    if !db.is_admin() {
        return Err(layout.forbidden(ADMINS_ONLY));
    }
    Ok(layout)
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

pub async fn create(mut db: PageTx, Form(form): Form<NewUserForm>) -> Result<Response, WebError> {
    let layout = admin_form(&mut db, &form.csrf_token).await?;
    match add_user(&mut db, &form).await {
        Ok(id) => {
            db.commit().await?;
            Ok(Redirect::to(&format!("/admin/users?added={id}")).into_response())
        }
        Err(error) => {
            let Some((status, field_error)) = FieldError::from_api(&error) else {
                return Err(error.into());
            };
            let values = NewUserValues {
                full_name: form.full_name,
                email: form.email,
                role: form.role,
            };
            show(db, layout, status, None, Some(field_error), values).await
        }
    }
}

/// Adds the user in a savepoint, so that a refused row leaves the transaction usable for
/// showing the page again.
async fn add_user(db: &mut PageTx, form: &NewUserForm) -> Result<Uuid, ApiError> {
    let full_name = filled(&form.full_name)
        .ok_or_else(|| ApiError::invalid("full_name", "a name is required"))?;
    let email =
        filled(&form.email).ok_or_else(|| ApiError::invalid("email", "an address is required"))?;
    let role = UserRole::parse(&form.role)
        .ok_or_else(|| ApiError::invalid("role", "choose admin, provider, billing or staff"))?;
    if form.password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(ApiError::invalid(
            "password",
            format!("at least {MIN_PASSWORD_LENGTH} characters"),
        ));
    }
    let password = form.password.clone();
    let password_hash = hash_password_off_thread(password)
        .await
        .map_err(ApiError::Internal)?;
    let org_id = db.caller.org_id;
    let mut savepoint = db.conn().begin().await?;
    let inserted: Result<Uuid, sqlx::Error> = async {
        let id: Uuid = sqlx::query_scalar(
            "insert into users (org_id, email, full_name, role) values ($1, $2, $3, $4::user_role)
             returning id",
        )
        .bind(org_id)
        .bind(email)
        .bind(full_name)
        .bind(role.as_str())
        .fetch_one(&mut *savepoint)
        .await?;
        sqlx::query("select app.set_password((select auth_id from users where id = $1), $2)")
            .bind(id)
            .bind(&password_hash)
            .execute(&mut *savepoint)
            .await?;
        Ok(id)
    }
    .await;
    match inserted {
        Ok(id) => {
            savepoint.commit().await?;
            Ok(id)
        }
        Err(error) => {
            savepoint.rollback().await?;
            Err(error.into())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
}

pub async fn change_role(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, WebError> {
    let layout = admin_form(&mut db, &form.csrf_token).await?;
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let Some(role) = UserRole::parse(&form.role) else {
        let error = FieldError {
            field: "change_role".to_owned(),
            message: "Role: choose admin, provider, billing or staff.".to_owned(),
        };
        return show(
            db,
            layout,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(error),
            NewUserValues::default(),
        )
        .await;
    };
    if id == db.caller.user_id {
        let error = FieldError {
            field: "change_role".to_owned(),
            message: "Role: you cannot change your own role; ask another admin.".to_owned(),
        };
        return show(
            db,
            layout,
            StatusCode::CONFLICT,
            None,
            Some(error),
            NewUserValues::default(),
        )
        .await;
    }
    let updated: Option<Uuid> =
        sqlx::query_scalar("update users set role = $2::user_role where id = $1 returning id")
            .bind(id)
            .bind(role.as_str())
            .fetch_optional(db.conn())
            .await?;
    if updated.is_none() {
        return Err(WebError::not_found().with_layout(layout));
    }
    db.commit().await?;
    Ok(Redirect::to(&format!("/admin/users?changed={id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    active: String,
}

pub async fn set_active(
    mut db: PageTx,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Result<Response, WebError> {
    let layout = admin_form(&mut db, &form.csrf_token).await?;
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(WebError::not_found().with_layout(layout));
    };
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            let error = FieldError {
                field: "active".to_owned(),
                message: "Choose to deactivate or to reactivate the user.".to_owned(),
            };
            return show(
                db,
                layout,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(error),
                NewUserValues::default(),
            )
            .await;
        }
    };
    if !active && id == db.caller.user_id {
        let error = FieldError {
            field: "active".to_owned(),
            message: "You cannot deactivate yourself; ask another admin.".to_owned(),
        };
        return show(
            db,
            layout,
            StatusCode::CONFLICT,
            None,
            Some(error),
            NewUserValues::default(),
        )
        .await;
    }
    let updated: Option<Uuid> = sqlx::query_scalar(
        "update users set is_active = $2,
                deactivated_at = case when $2 then null else coalesce(deactivated_at, now()) end
          where id = $1 returning id",
    )
    .bind(id)
    .bind(active)
    .fetch_optional(db.conn())
    .await?;
    if updated.is_none() {
        return Err(WebError::not_found().with_layout(layout));
    }
    db.commit().await?;
    let notice = if active { "reactivated" } else { "deactivated" };
    Ok(Redirect::to(&format!("/admin/users?{notice}={id}")).into_response())
}
