//! SQL over stored readings.

use app::types::{Reading, ReadingBucket};
use sqlx::Row;

use crate::db::{self, Db};

/// What to read: one device, an optional sensor, a time range in
/// milliseconds (inclusive), at most `limit`.
pub struct Query<'a> {
    pub device_id: i64,
    pub sensor: Option<&'a str>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub limit: i64,
    /// Only readings past this (ts, id) in the order read.
    pub after: Option<(i64, i64)>,
}

/// A reading and where it stands in the order: (ts, id).
pub type Positioned = (Reading, (i64, i64));

/// Newest first (`newest_first`) or oldest first.
pub async fn list(db: &Db, q: &Query<'_>, newest_first: bool) -> sqlx::Result<Vec<Positioned>> {
    let (cmp, dir) = if newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let page = match q.after {
        Some(_) => format!("AND (ts {cmp} $6 OR (ts = $6 AND id {cmp} $7))"),
        None => String::new(),
    };
    let sql = format!(
        "SELECT sensor, value, unit, ts, id FROM readings \
         WHERE device_id = $1 AND ($2 = '' OR sensor = $2) AND ts >= $3 AND ts <= $4 {page} \
         ORDER BY ts {dir}, id {dir} LIMIT $5"
    );
    let mut query = sqlx::query(&sql)
        .bind(q.device_id)
        .bind(q.sensor.unwrap_or_default())
        .bind(q.from_ms)
        .bind(q.to_ms)
        .bind(q.limit);
    if let Some((ts, id)) = q.after {
        query = query.bind(ts).bind(id);
    }
    let rows = query.fetch_all(db).await?;
    rows.iter()
        .map(|r| {
            let ts: i64 = r.try_get(3)?;
            Ok((
                Reading {
                    sensor: r.try_get(0)?,
                    value: r.try_get(1)?,
                    unit: r.try_get(2)?,
                    ts: db::rfc3339_millis(ts),
                },
                (ts, r.try_get(4)?),
            ))
        })
        .collect()
}

/// A time range cut into buckets of `width_ms`, from `from_ms`.
pub struct Buckets<'a> {
    pub device_id: i64,
    pub sensor: Option<&'a str>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub width_ms: i64,
}

/// Count, min, max and average per sensor and bucket, computed by the
/// database over the `(device_id, ts)` index: no raw row leaves it.
pub async fn aggregate(db: &Db, q: &Buckets<'_>) -> sqlx::Result<Vec<ReadingBucket>> {
    let rows = sqlx::query(
        "SELECT sensor, (ts - $2) / $4 AS bucket, COUNT(*), MIN(value), MAX(value), AVG(value) \
         FROM readings \
         WHERE device_id = $1 AND ts >= $2 AND ts <= $3 AND ($5 = '' OR sensor = $5) \
         GROUP BY sensor, bucket ORDER BY sensor, bucket",
    )
    .bind(q.device_id)
    .bind(q.from_ms)
    .bind(q.to_ms)
    .bind(q.width_ms)
    .bind(q.sensor.unwrap_or_default())
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let bucket: i64 = r.try_get(1)?;
            Ok(ReadingBucket {
                sensor: r.try_get(0)?,
                start: db::rfc3339_millis(q.from_ms + bucket * q.width_ms),
                count: r.try_get(2)?,
                min: r.try_get(3)?,
                max: r.try_get(4)?,
                avg: r.try_get(5)?,
            })
        })
        .collect()
}

/// Up to `$2` readings stored before `$1` (seconds), oldest first
/// (`db::delete_in_batches`).
pub const TRIM: &str = "DELETE FROM readings WHERE id IN \
     (SELECT id FROM readings WHERE received_at < $1 ORDER BY id LIMIT $2)";
