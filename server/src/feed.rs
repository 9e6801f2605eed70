//! The change feed between instances sharing one PostgreSQL database
//! (SQLite is single-instance and has none). Triggers write each change
//! other instances must apply — a token revoked, a device enrolled or
//! revoked, a command created or changed — to the `changes` table inside the transaction that makes it,
//! and NOTIFY `vigil_changes` at its commit (migration 0006). Each instance
//! LISTENs, and on every notification, after every reconnect of its
//! listening connection, and every few seconds besides, reads the rows
//! past the last one it applied and applies them: a missed notification
//! is never a missed revocation. Each row names the instance that made
//! the change (the connections' `application_name`); an instance skips its
//! own, which it applied as it made them.
//!
//! Readings are too many for that table: each INSERT of readings sends a
//! NOTIFY on `vigil_readings` naming its instance and the ids it stored
//! (migration 0007), and the other instances read those rows back and
//! publish them to their live streams and MQTT subscribers. Readings
//! announced while an instance's listening connection is down are not
//! shown live there (they are stored, and in the history); revocations
//! and the rest never miss, as above.
//!
//! Sequence numbers are taken at insert, but transactions commit in any
//! order: a number below the highest read that has not been seen yet may
//! still commit. Such gaps are read again until they fill, or for
//! `GAP_WAIT` (a rolled-back transaction leaves a gap for good).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use sqlx::{postgres::PgListener, Row};
use tokio::sync::watch;

use crate::{
    commands::Commands, db::Db, devices::Devices, live::LiveHub, readings::Reading, tokens::Tokens,
};

const CHANNEL: &str = "vigil_changes";
const READINGS: &str = "vigil_readings";
/// Announcements of readings waiting to be read back; past it, dropped
/// (live delivery is best-effort when an instance falls behind).
const READINGS_QUEUE: usize = 1024;
/// A read even without a notification: the safety net.
const READ_EVERY: Duration = Duration::from_secs(5);
/// How long a missing sequence number is waited for.
const GAP_WAIT: Duration = Duration::from_secs(30);
/// Rows read at once.
const PAGE: i64 = 1000;
/// Rows older than this are deleted (every instance has long read them).
const KEEP_SECS: i64 = 3600;

/// What the feed applies changes to.
#[derive(Clone)]
pub struct Targets {
    pub tokens: Tokens,
    pub devices: Devices,
    pub commands: Commands,
    pub live: LiveHub,
}

/// Starts following the feed (PostgreSQL only): one task listens, one
/// reads and applies.
pub async fn spawn(
    url: &str,
    instance: &str,
    db: Db,
    targets: Targets,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut listener = listen(url).await?;
    let start: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM changes")
        .fetch_one(&db)
        .await?
        .try_get(0)?;
    let (poke, poked) = watch::channel(0u64);
    let url = url.to_owned();
    let me_name = instance.to_owned();
    let (readings_tx, readings_rx) = tokio::sync::mpsc::channel(READINGS_QUEUE);
    let reading_back = tokio::spawn(read_back(db.clone(), targets.live.clone(), readings_rx));
    let listening = tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.channel() == READINGS => {
                    if let Some(runs) = others_readings(n.payload(), &me_name) {
                        if readings_tx.try_send(runs).is_err() {
                            tracing::debug!("change feed: readings queue full; dropped");
                        }
                    }
                    continue;
                }
                Ok(Some(_)) => {}
                // Lost: listen again on a new connection, and only then
                // read, so that nothing committed in between is missed.
                lost => {
                    if let Err(e) = lost {
                        tracing::warn!(error = %e, "change feed: listening failed");
                    }
                    listener = loop {
                        match listen(&url).await {
                            Ok(l) => break l,
                            Err(e) => {
                                tracing::warn!(error = %e, "change feed: cannot listen; retrying in 1 s");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    };
                    tracing::info!("change feed: listening again");
                }
            }
            poke.send_modify(|n| *n += 1);
        }
    });
    let me = Me {
        instance: instance.to_owned(),
        targets,
    };
    let applying = tokio::spawn(apply_loop(db, me, start, poked));
    Ok(vec![listening, applying, reading_back])
}

async fn listen(url: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([CHANNEL, READINGS]).await?;
    Ok(listener)
}

/// The id runs of a readings announcement (`origin lo-hi,lo-hi`) made by
/// another instance; `None` for this instance's own or a malformed one.
fn others_readings(payload: &str, me: &str) -> Option<Vec<(i64, i64)>> {
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
async fn read_back(
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

/// This instance: its name, and what it applies changes to.
struct Me {
    instance: String,
    targets: Targets,
}

async fn apply_loop(db: Db, me: Me, start: i64, mut poked: watch::Receiver<u64>) {
    let mut cursor = Cursor::new(start);
    let mut pruned = Instant::now();
    loop {
        if let Err(e) = read_and_apply(&db, &me, &mut cursor).await {
            tracing::warn!(error = %format!("{e:#}"), "change feed: reading failed");
        }
        if pruned.elapsed() > Duration::from_secs(60) {
            pruned = Instant::now();
            let _ = sqlx::query(
                "DELETE FROM changes WHERE at < EXTRACT(EPOCH FROM now())::BIGINT - $1",
            )
            .bind(KEEP_SECS)
            .execute(&db)
            .await;
        }
        let _ = tokio::time::timeout(READ_EVERY, poked.changed()).await;
    }
}

/// Which sequence numbers are applied: all up to `high` but the gaps.
struct Cursor {
    high: i64,
    gaps: BTreeMap<i64, Instant>,
}

impl Cursor {
    fn new(high: i64) -> Cursor {
        Cursor {
            high,
            gaps: BTreeMap::new(),
        }
    }

    /// Where the next read starts (inclusive).
    fn from(&mut self, now: Instant) -> i64 {
        self.gaps
            .retain(|_, since| now.duration_since(*since) < GAP_WAIT);
        self.gaps.keys().next().copied().unwrap_or(self.high + 1)
    }

    fn is_new(&self, seq: i64) -> bool {
        seq > self.high || self.gaps.contains_key(&seq)
    }

    /// `seq` is applied; whether it was new, noting the gaps it skips.
    fn take(&mut self, seq: i64, now: Instant) -> bool {
        if seq > self.high {
            for missing in self.high + 1..seq {
                self.gaps.insert(missing, now);
            }
            self.high = seq;
            true
        } else {
            self.gaps.remove(&seq).is_some()
        }
    }
}

async fn read_and_apply(db: &Db, me: &Me, cursor: &mut Cursor) -> anyhow::Result<()> {
    // The gaps first: rows below the highest read that had not committed.
    let from = cursor.from(Instant::now());
    if from <= cursor.high {
        let rows = sqlx::query(
            "SELECT seq, kind, ref, origin FROM changes WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
        )
        .bind(from)
        .bind(cursor.high)
        .fetch_all(db)
        .await?;
        apply_rows(me, cursor, rows).await?;
    }
    // Then what is new, a page at a time.
    loop {
        let rows = sqlx::query(
            "SELECT seq, kind, ref, origin FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(cursor.high)
        .bind(PAGE)
        .fetch_all(db)
        .await?;
        let full = rows.len() as i64 == PAGE;
        apply_rows(me, cursor, rows).await?;
        if !full {
            return Ok(());
        }
    }
}

async fn apply_rows(
    me: &Me,
    cursor: &mut Cursor,
    rows: Vec<sqlx::any::AnyRow>,
) -> anyhow::Result<()> {
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        if !cursor.is_new(seq) {
            continue;
        }
        let kind: String = row.try_get(1)?;
        let reference: String = row.try_get(2)?;
        let origin: Option<String> = row.try_get(3)?;
        // Taken once applied: a failure is tried again at the next read.
        if origin.as_deref() != Some(me.instance.as_str()) {
            apply(&me.targets, &kind, &reference).await?;
        }
        cursor.take(seq, Instant::now());
    }
    Ok(())
}

async fn apply(targets: &Targets, kind: &str, reference: &str) -> anyhow::Result<()> {
    match kind {
        "token" => targets.tokens.reload(reference).await?,
        "device" => {
            if let Ok(id) = reference.parse() {
                targets.devices.reload(id).await?;
            }
        }
        "command" => {
            if let Ok(id) = reference.parse() {
                targets.commands.changed_elsewhere(id).await?;
            }
        }
        other => tracing::debug!(kind = other, "change feed: unknown kind ignored"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_announcements_of_others_are_read_and_own_ones_skipped() {
        assert_eq!(
            others_readings("vigil-a 10-19,40-40", "vigil-b"),
            Some(vec![(10, 19), (40, 40)])
        );
        assert_eq!(others_readings("vigil-b 10-19", "vigil-b"), None);
        assert_eq!(others_readings("vigil-a 10-x", "vigil-b"), None);
        assert_eq!(others_readings("garbage", "vigil-b"), None);
    }

    #[test]
    fn gaps_are_read_again_until_filled_or_given_up() {
        let t0 = Instant::now();
        let mut c = Cursor::new(10);
        assert_eq!(c.from(t0), 11);
        assert!(c.take(11, t0));
        // 12 and 13 not committed yet.
        assert!(c.take(14, t0));
        assert!(!c.take(14, t0), "applied once");
        assert_eq!(c.from(t0), 12);
        assert!(c.take(13, t0));
        assert!(!c.take(13, t0));
        assert_eq!(c.from(t0), 12);
        // 12 never comes (rolled back): given up after GAP_WAIT.
        assert_eq!(c.from(t0 + GAP_WAIT), 15);
        assert!(!c.take(12, t0 + GAP_WAIT), "too late: the safety net's");
    }
}
