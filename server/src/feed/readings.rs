//! Readings stored through other instances, for the live streams here.
//! They are too many for the `changes` table: each INSERT of readings sends a
//! NOTIFY on `vigil_readings` naming its instance and the ids it stored
//! (migration 0007), and the other instances read those rows back and
//! publish them to their live streams and MQTT subscribers. Readings
//! announced while an instance's listening connection is down are not
//! shown live there (they are stored, and in the history); revocations
//! and the rest never miss.

use sqlx::Row;

use crate::{db::Db, live::LiveHub, metrics::METRICS, readings::Reading};

/// A readings announcement of another instance: the id runs it stored,
/// and when (microseconds since the epoch, by the database's clock).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Announced {
    pub runs: Vec<(i64, i64)>,
    pub at_us: Option<i64>,
}

/// A readings announcement (`origin lo-hi,lo-hi [at_us]`, migrations 0007
/// and 0009) made by another instance; `None` for this instance's own or
/// a malformed one.
pub(super) fn of_others(payload: &str, me: &str) -> Option<Announced> {
    let mut parts = payload.split(' ');
    let (origin, runs) = (parts.next()?, parts.next()?);
    if origin == me {
        return None;
    }
    let at_us = match parts.next() {
        Some(at) => Some(at.parse().ok()?),
        None => None,
    };
    let runs = runs
        .split(',')
        .map(|run| {
            let (lo, hi) = run.split_once('-')?;
            Some((lo.parse().ok()?, hi.parse().ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Announced { runs, at_us })
}

/// Reads back the readings other instances stored, and publishes them
/// here (only while someone here follows readings).
pub(super) async fn read_back(
    db: Db,
    live: LiveHub,
    mut announced: tokio::sync::mpsc::Receiver<Announced>,
) {
    while let Some(Announced { runs, at_us }) = announced.recv().await {
        if !live.has_subscribers() {
            continue;
        }
        for (lo, hi) in runs {
            let rows = sqlx::query(
                "SELECT device_id, sensor, value, unit, ts FROM readings \
                 WHERE id >= $1 AND id <= $2 ORDER BY id",
            )
            .bind(lo)
            .bind(hi)
            .fetch_all(&db)
            .await;
            let rows = match rows {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed: reading back readings failed");
                    continue;
                }
            };
            let readings: Vec<Reading> = rows
                .iter()
                .filter_map(|r| {
                    Some(Reading {
                        device_id: r.try_get(0).ok()?,
                        sensor: r.try_get(1).ok()?,
                        value: r.try_get(2).ok()?,
                        unit: r.try_get(3).ok()?,
                        ts: r.try_get(4).ok()?,
                    })
                })
                .collect();
            live.publish(&readings);
        }
        if let Some(at_us) = at_us {
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            METRICS
                .feed_readings_lag_seconds
                .observe((now_us - at_us).max(0) as f64 / 1e6);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_announcements_of_others_are_read_and_own_ones_skipped() {
        assert_eq!(
            of_others("vigil-a 10-19,40-40", "vigil-b"),
            Some(Announced {
                runs: vec![(10, 19), (40, 40)],
                at_us: None
            })
        );
        assert_eq!(
            of_others("vigil-a 10-19 1800000000123456", "vigil-b"),
            Some(Announced {
                runs: vec![(10, 19)],
                at_us: Some(1_800_000_000_123_456)
            })
        );
        assert_eq!(of_others("vigil-b 10-19", "vigil-b"), None);
        assert_eq!(of_others("vigil-a 10-x", "vigil-b"), None);
        assert_eq!(of_others("vigil-a 10-19 soon", "vigil-b"), None);
        assert_eq!(of_others("garbage", "vigil-b"), None);
    }
}
