//! The API's conventions, shared by every endpoint (see docs/api-conventions.md): versions as
//! ETags with If-Match, cursor pagination, idempotent creation, the OpenAPI document.

pub mod etag;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod pagination;
