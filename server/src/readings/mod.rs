//! Stored readings: `GET /api/v1/devices/{id}/readings`, newest first, with
//! sensor and time-range filters and a bounded page.

mod export;
mod routes;
mod store;

use std::time::Duration;

pub use routes::router;

use crate::db::Db;

/// Readings deleted per statement by the retention sweep: each statement
/// holds the write lock only this long, and the writer's commits go
/// between them.
const TRIM_BATCH: i64 = 5000;

/// Deletes the readings stored more than `retention` ago (by the time
/// they were stored, which grows with their id, so each batch is read off
/// the start of the primary key); how many.
pub async fn trim(db: &Db, retention: Duration) -> sqlx::Result<u64> {
    let before = crate::db::now() - i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    crate::db::delete_in_batches(db, store::TRIM, before, TRIM_BATCH).await
}

/// With a retention (`VIGIL_READINGS_RETENTION`), trims every `every`.
pub fn spawn_retention(
    db: Db,
    retention: Duration,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    crate::db::spawn_trimming("readings", every, move || {
        let db = db.clone();
        async move { trim(&db, retention).await }
    })
}

/// A sensor's name: 1–64 characters of letters, digits and `_ . : - /`.
pub fn valid_sensor(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-/".contains(c))
}

/// A reading ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub device_id: i64,
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    /// Milliseconds since the epoch.
    pub ts: i64,
}
