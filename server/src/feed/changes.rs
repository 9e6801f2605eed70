//! The `changes` table (migration 0006), read by sequence number and
//! applied here.
//!
//! Sequence numbers are taken at insert, but transactions commit in any
//! order: a number below the highest read that has not been seen yet may
//! still commit. Such gaps are read again until they fill, or for
//! `GAP_WAIT` (a rolled-back transaction leaves a gap for good).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use sqlx::Row;
use tokio::sync::watch;

use super::Targets;
use crate::{
    db::Db,
    metrics::{KindLabels, METRICS},
};

/// A read even without a notification: the safety net.
const READ_EVERY: Duration = Duration::from_secs(5);
/// How long a missing sequence number is waited for.
const GAP_WAIT: Duration = Duration::from_secs(30);
/// Rows read at once.
const PAGE: i64 = 1000;
/// Rows older than this are deleted (every instance has long read them).
const KEEP_SECS: i64 = 3600;

/// This instance: its name, and what it applies changes to.
pub(super) struct Me {
    pub instance: String,
    pub targets: Targets,
}

pub(super) async fn apply_loop(db: Db, me: Me, start: i64, mut poked: watch::Receiver<u64>) {
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
            "SELECT seq, kind, ref, origin, at_us FROM changes WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
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
            "SELECT seq, kind, ref, origin, at_us FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
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
            let at_us: i64 = row.try_get(4)?;
            observe(&kind, at_us);
        }
        cursor.take(seq, Instant::now());
    }
    Ok(())
}

/// Counts a change applied here, and its lag since its write.
fn observe(kind: &str, at_us: i64) {
    let kind = match kind {
        "token" => "token",
        "device" => "device",
        "command" => "command",
        "group" => "group",
        "key" => "key",
        _ => "other",
    };
    METRICS
        .feed_applied
        .get_or_create(&KindLabels { kind })
        .inc();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    METRICS
        .feed_lag_seconds
        .observe((now_us - at_us).max(0) as f64 / 1e6);
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
        "group" => {
            if let Ok(id) = reference.parse() {
                targets.devices.reload_group(id).await?;
            }
        }
        "key" => targets.tokens.reload_keys().await?,
        other => tracing::debug!(kind = other, "change feed: unknown kind ignored"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
