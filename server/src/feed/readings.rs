//! Readings stored through other instances, for the live streams here.
//! They are too many for the `changes` table: each INSERT of readings sends a
//! NOTIFY on `vigil_readings` naming its instance and the ids it stored
//! (migration 0007), and the other instances read those rows back and
//! publish them to their live streams and MQTT subscribers. Readings
//! announced while an instance's listening connection is down are not
//! shown live there (they are stored, and in the history); revocations
//! and the rest never miss.

use sqlx::Row;

use crate::{db::Db, live::LiveHub, readings::Reading};

/// The id runs of a readings announcement (`origin lo-hi,lo-hi`) made by
/// another instance; `None` for this instance's own or a malformed one.
pub(super) fn of_others(payload: &str, me: &str) -> Option<Vec<(i64, i64)>> {
    let (origin, runs) = payload.split_once(' ')?;
    if origin == me {
        return None;
    }
    runs.split(',')
        .map(|run| {
            let (lo, hi) = run.split_once('-')?;
            Some((lo.parse().ok()?, hi.parse().ok()?))
        })
        .collect()
}

/// Reads back the readings other instances stored, and publishes them
/// here (only while someone here follows readings).
pub(super) async fn read_back(
    db: Db,
    live: LiveHub,
    mut announced: tokio::sync::mpsc::Receiver<Vec<(i64, i64)>>,
) {
    while let Some(runs) = announced.recv().await {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_announcements_of_others_are_read_and_own_ones_skipped() {
        assert_eq!(
            of_others("vigil-a 10-19,40-40", "vigil-b"),
            Some(vec![(10, 19), (40, 40)])
        );
        assert_eq!(of_others("vigil-b 10-19", "vigil-b"), None);
        assert_eq!(of_others("vigil-a 10-x", "vigil-b"), None);
        assert_eq!(of_others("garbage", "vigil-b"), None);
    }
}
