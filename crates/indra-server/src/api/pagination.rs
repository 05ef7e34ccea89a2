//! Cursor pagination: lists are ordered by (created_at, id) and a page ends with an opaque
//! cursor naming its last row, so pages stay stable while rows are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use sqlx::PgConnection;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The position after which a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let micros = self.created_at.unix_timestamp_nanos() / 1000;
        URL_SAFE_NO_PAD.encode(format!("{micros}:{}", self.id))
    }

    pub fn decode(text: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::invalid("cursor", "not a cursor this API gave out");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
        let micros: i128 = micros.parse().map_err(|_| invalid())?;
        Ok(Self {
            created_at: OffsetDateTime::from_unix_timestamp_nanos(micros * 1000)
                .map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

impl PageQuery {
    /// The page size asked for, checked; and the cursor, decoded.
    pub fn resolve(&self) -> Result<(i64, Option<Cursor>), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok((
            i64::from(limit),
            self.cursor.as_deref().map(Cursor::decode).transpose()?,
        ))
    }
}

/// A row a list is ordered by: its (created_at, id) position.
pub trait Positioned {
    fn position(&self) -> Cursor;
}

/// One page of `select <columns> from <table>`, in (created_at, id) order, after the query's
/// cursor. The rows are those the caller's row-level security lets them see; `select` is a
/// constant of the calling endpoint, never input.
pub async fn fetch_page<T>(
    conn: &mut PgConnection,
    select: &str,
    query: &PageQuery,
) -> Result<Page<T>, ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Positioned + Send + Unpin,
{
    let (limit, after) = query.resolve()?;
    let rows: Vec<T> = sqlx::query_as(&format!(
        "{select} where ($1::timestamptz is null or (created_at, id) > ($1, $2)) order by created_at, id limit $3"
    ))
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(conn)
    .await?;
    Ok(page_of(rows, limit, Positioned::position))
}

/// Cuts a fetched `limit + 1` rows to a page, with the cursor of its last row when more follow.
pub fn page_of<T>(mut rows: Vec<T>, limit: i64, position: impl Fn(&T) -> Cursor) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|row| position(row).encode())
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            created_at: OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_000)
                .unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("not-a-cursor").is_err());
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let at = |n: i64| Cursor {
            created_at: OffsetDateTime::from_unix_timestamp(n).unwrap(),
            id: Uuid::nil(),
        };
        let page = page_of(vec![1, 2, 3], 2, |n| at(*n));
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, Some(at(2).encode()));
        assert_eq!(page_of(vec![1, 2], 2, |n| at(*n)).next_cursor, None);
    }

    #[test]
    fn limits_are_checked() {
        assert!(
            PageQuery {
                limit: Some(0),
                cursor: None
            }
            .resolve()
            .is_err()
        );
        assert!(
            PageQuery {
                limit: Some(500),
                cursor: None
            }
            .resolve()
            .is_err()
        );
        assert_eq!(
            PageQuery {
                limit: None,
                cursor: None
            }
            .resolve()
            .unwrap()
            .0,
            50
        );
    }
}
