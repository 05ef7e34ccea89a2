//! The reference code sets as the database holds them, against the pure rules that use them.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use indra_db::testing::TestDb;
use indra_rules::billing::code_suggestion::CPT_TIME_RANGES;

/// The code suggestion rules code by the same minutes as `cpt_codes.time_range_minutes`, the
/// source the database answers `time_range_minutes @> minutes` from.
#[tokio::test]
async fn code_suggestion_uses_the_databases_time_ranges() {
    let db = TestDb::new().await.unwrap();
    for range in CPT_TIME_RANGES {
        let (lower, upper): (Option<i32>, Option<i32>) = sqlx::query_as(
            "select lower(time_range_minutes), upper(time_range_minutes) from cpt_codes where code = $1",
        )
        .bind(range.code)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{} is not in cpt_codes: {e}", range.code));
        assert_eq!(
            lower,
            Some(range.from as i32),
            "{}: first minute",
            range.code
        );
        assert_eq!(
            upper,
            range.until.map(|u| u as i32),
            "{}: first minute past the range",
            range.code
        );
    }
    db.close().await.unwrap();
}
