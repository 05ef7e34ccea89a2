//! `Idempotency-Key` on POSTs that create records: the first request with a key is carried out
//! and its answer stored in the same transaction; a retry with the same key and the same body
//! gets that answer again, without creating anything; the same key with another body is refused.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::platform::caller::CallerTx;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// What [`IdempotencyKey::claim`] found.
pub enum Claim {
    /// The request was answered before: send this answer again.
    Replay(Response),
    /// Carry the request out; store its answer with the key, when there is one.
    Fresh(Option<IdempotencyKey>),
}

pub struct IdempotencyKey {
    key: String,
    request_hash: Vec<u8>,
}

impl IdempotencyKey {
    /// The request's key, if it sent one, bound to what it asks (`route` and body).
    fn from_request<B: Serialize>(
        headers: &HeaderMap,
        route: &str,
        body: &B,
    ) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=200).contains(&k.len()))
            .ok_or_else(|| ApiError::invalid("Idempotency-Key", "1-200 visible characters"))?;
        let mut hasher = Sha256::new();
        hasher.update(route.as_bytes());
        hasher.update(serde_json::to_vec(body).unwrap_or_default());
        Ok(Some(Self {
            key: key.to_owned(),
            request_hash: hasher.finalize().to_vec(),
        }))
    }

    /// The whole protocol for a creating POST: reads the request's key (if any), bound to
    /// `route` and `body`, and claims it in the request's transaction.
    pub async fn claim<B: Serialize>(
        db: &mut CallerTx,
        headers: &HeaderMap,
        route: &str,
        body: &B,
    ) -> Result<Claim, ApiError> {
        let Some(key) = Self::from_request(headers, route, body)? else {
            return Ok(Claim::Fresh(None));
        };
        Ok(match key.replay(db).await? {
            Some(answer) => Claim::Replay(answer),
            None => Claim::Fresh(Some(key)),
        })
    }

    /// Claims the key for this request. `Some(answer)` when it was already answered: send that.
    async fn replay(&self, db: &mut CallerTx) -> Result<Option<Response>, ApiError> {
        let (org_id, user_id) = (db.caller.org_id, db.caller.user_id);
        // A concurrent request with the same key waits here until the first commits.
        let claimed = sqlx::query(
            "insert into idempotency_keys (org_id, user_id, key, request_hash) values ($1, $2, $3, $4)
             on conflict do nothing",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(&self.key)
        .bind(&self.request_hash)
        .execute(db.conn())
        .await?
        .rows_affected()
            == 1;
        if claimed {
            return Ok(None);
        }
        let (hash, status, body): (Vec<u8>, Option<i32>, Option<serde_json::Value>) =
            sqlx::query_as(
                "select request_hash, status_code, response_body from idempotency_keys
              where org_id = $1 and user_id = $2 and key = $3",
            )
            .bind(org_id)
            .bind(user_id)
            .bind(&self.key)
            .fetch_one(db.conn())
            .await?;
        if hash != self.request_hash {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                "this key was used for a different request; use a new key for a new request",
            ));
        }
        let status = status
            .and_then(|s| StatusCode::from_u16(u16::try_from(s).ok()?).ok())
            .unwrap_or(StatusCode::OK);
        let mut response = (status, Json(body.unwrap_or_default())).into_response();
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
        Ok(Some(response))
    }

    /// Stores the answer, in the transaction that made the change.
    pub async fn store<T: Serialize>(
        &self,
        db: &mut CallerTx,
        status: StatusCode,
        body: &T,
    ) -> Result<(), ApiError> {
        let (org_id, user_id) = (db.caller.org_id, db.caller.user_id);
        sqlx::query(
            "update idempotency_keys set status_code = $4, response_body = $5
              where org_id = $1 and user_id = $2 and key = $3",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(&self.key)
        .bind(i32::from(status.as_u16()))
        .bind(serde_json::to_value(body).map_err(|e| ApiError::Internal(e.into()))?)
        .execute(db.conn())
        .await?;
        Ok(())
    }
}
