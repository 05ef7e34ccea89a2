//! The OpenAPI 3.1 document, generated from the handlers and types (`/api/v1/openapi.json`).

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;
use crate::platform::{me, organization, providers, sign_in, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Indra", description = "A multi-tenant behavioral-health EHR. Conventions: docs/api-conventions.md."),
    paths(
        sign_in::sign_in, sign_in::refresh, sign_in::logout,
        me::me,
        organization::get_organization, organization::update_organization,
        users::list_users, users::create_user, users::get_user, users::update_user,
        providers::list_providers, providers::create_provider, providers::get_provider, providers::update_provider,
    ),
    components(schemas(Problem, providers::Provider, providers::NewProvider, providers::ProviderChange, providers::NoteFormatCode)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Signing in"), (name = "platform", description = "The practice, its users and clinicians"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
        .merge_from(crate::clinical::openapi())
        .merge_from(crate::billing::openapi())
        .merge_from(crate::ai::openapi())
}

pub async fn serve_document() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
