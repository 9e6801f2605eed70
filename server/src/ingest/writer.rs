//! The single writer of readings, with group commit: batches that arrive
//! while a commit is in flight are written together in the next
//! transaction, and each request's 202 waits for the commit holding it.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::store;
use crate::db::{self, Direct};
use crate::live::LiveHub;
use crate::metrics::METRICS;
use crate::readings::Reading;

/// Rows per commit at most; more waiting batches go in the next one.
const MAX_ROWS_PER_COMMIT: usize = 20_000;
/// Batches waiting for the writer; beyond it requests wait (backpressure).
const QUEUE: usize = 4096;
/// Readings per live batch at most (about 100 KB of JSON).
const LIVE_BATCH: usize = 1000;
/// Connecting or committing longer than this (a connection silently lost,
/// a database unreachable) fails the batches rather than hold every
/// request; the connection is dropped and opened anew.
const STALL: Duration = Duration::from_secs(20);

struct Job {
    rows: Vec<Reading>,
    done: oneshot::Sender<Result<(), ()>>,
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// The writer holds its own connection to the database at `url`
    /// (`db::connect_direct`), opened again after a failed commit, and
    /// publishes each commit's readings to `live`, in one batch.
    pub fn spawn(
        url: String,
        instance: String,
        live: LiveHub,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Writer { tx }, tokio::spawn(run(url, instance, live, rx)))
    }

    /// Returns once everything queued before it is committed (or failed).
    pub async fn flush(&self) {
        let _ = self.write(Vec::new()).await;
    }

    /// Batches waiting for the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Returns once the rows are committed.
    pub async fn write(&self, rows: Vec<Reading>) -> anyhow::Result<()> {
        let (done, committed) = oneshot::channel();
        self.tx
            .send(Job { rows, done })
            .await
            .map_err(|_| anyhow::anyhow!("the readings writer has stopped"))?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            _ => anyhow::bail!("the readings could not be stored"),
        }
    }
}

async fn run(url: String, instance: String, live: LiveHub, mut rx: mpsc::Receiver<Job>) {
    let mut conn: Option<Direct> = None;
    let mut counts = store::Counts {
        instance: &instance,
        pruned_minute: i64::MIN,
    };
    while let Some(first) = rx.recv().await {
        let mut rows = first.rows.len();
        let mut jobs = vec![first];
        while rows < MAX_ROWS_PER_COMMIT {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        if rows == 0 {
            // Only flushes (`Writer::flush`): everything before them is done.
            for job in jobs {
                let _ = job.done.send(Ok(()));
            }
            continue;
        }
        let batches: Vec<&[Reading]> = jobs.iter().map(|j| j.rows.as_slice()).collect();
        let started = std::time::Instant::now();
        let result = commit(&mut conn, &url, &mut counts, &batches).await;
        METRICS
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        if result.is_ok() {
            METRICS.readings_stored.inc_by(rows as u64);
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, rows, "storing readings failed");
            // The connection may be what failed: a new one next time.
            conn = None;
            // A passing fault (locked database, lost connection): breathe.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut committed = Vec::with_capacity(jobs.len());
        for job in jobs {
            let _ = job.done.send(result.as_ref().map(|_| ()).map_err(|_| ()));
            committed.push(job.rows);
        }
        // After the answers: a large commit's serializing delays no 202.
        // In batches of at most `LIVE_BATCH` readings, so one event stays
        // far below a stream's byte budget however large the commit.
        if result.is_ok() && live.has_subscribers() {
            let all: Vec<&Reading> = committed.iter().flatten().collect();
            for chunk in all.chunks(LIVE_BATCH) {
                live.publish(chunk.iter().copied());
            }
        }
    }
}

/// Commits on the writer's connection, opening it first when there is none.
/// A connection found broken before COMMIT was sent (the database
/// restarted, or closed it while idle) is replaced and the commit tried
/// once more: nothing of it was stored. Once COMMIT was sent, whether it
/// held is unknown, so the batches fail rather than risk being stored twice.
async fn commit(
    conn: &mut Option<Direct>,
    url: &str,
    counts: &mut store::Counts<'_>,
    batches: &[&[Reading]],
) -> anyhow::Result<()> {
    let instance = counts.instance;
    let open = match conn {
        Some(open) => open,
        None => conn.insert(connect(url, instance).await?),
    };
    let first = tokio::time::timeout(STALL, store::commit(open, counts, batches))
        .await
        .map_err(|_| anyhow::anyhow!("the commit took longer than {STALL:?}"))?;
    match first {
        Ok(()) => Ok(()),
        Err(failed) if !failed.commit_sent && db::is_connection_lost(&failed.error) => {
            tracing::warn!(error = %failed.error, "the readings writer's connection was lost; reconnecting");
            *conn = None;
            let open = conn.insert(connect(url, instance).await?);
            tokio::time::timeout(STALL, store::commit(open, counts, batches))
                .await
                .map_err(|_| anyhow::anyhow!("the commit took longer than {STALL:?}"))?
                .map_err(|f| f.error.into())
        }
        Err(failed) => Err(failed.error.into()),
    }
}

async fn connect(url: &str, instance: &str) -> anyhow::Result<Direct> {
    tokio::time::timeout(STALL, db::connect_direct(url, instance))
        .await
        .map_err(|_| anyhow::anyhow!("connecting took longer than {STALL:?}"))?
}
