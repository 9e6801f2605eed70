//! The single writer of readings, with group commit: batches that arrive
//! while a commit is in flight are written together in the next
//! transaction, and each request's 202 waits for the commit holding it.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::store;
use crate::db::{Db, Engine};
use crate::metrics::METRICS;
use crate::readings::Reading;

/// Rows per commit at most; more waiting batches go in the next one.
const MAX_ROWS_PER_COMMIT: usize = 20_000;
/// Batches waiting for the writer; beyond it requests wait (backpressure).
const QUEUE: usize = 4096;

struct Job {
    rows: Vec<Reading>,
    done: oneshot::Sender<Result<(), ()>>,
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn spawn(db: Db, engine: Engine) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Writer { tx }, tokio::spawn(run(db, engine, rx)))
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

async fn run(db: Db, engine: Engine, mut rx: mpsc::Receiver<Job>) {
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
        let result = store::commit(&db, engine, &batches).await;
        METRICS
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        if result.is_ok() {
            METRICS.readings_stored.inc_by(rows as u64);
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, rows, "storing readings failed");
            // A passing fault (locked database, lost connection): breathe.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for job in jobs {
            let _ = job.done.send(result.as_ref().map(|_| ()).map_err(|_| ()));
        }
    }
}
