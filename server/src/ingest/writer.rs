//! The single writer of readings, with group commit: batches that arrive
//! while a commit is in flight are written together in the next
//! transaction, and each request's 202 waits for the commit holding it.

use std::{collections::HashMap, time::Duration};

use tokio::sync::{mpsc, oneshot};

use crate::db::{self, Db, Engine};
use crate::readings::Reading;

/// Rows per commit at most; more waiting batches go in the next one.
const MAX_ROWS_PER_COMMIT: usize = 20_000;
/// Rows per INSERT statement (6 parameters each, under every engine's limit).
const ROWS_PER_STATEMENT: usize = 500;
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
        let result = commit(&db, engine, &jobs).await;
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

async fn commit(db: &Db, engine: Engine, jobs: &[Job]) -> sqlx::Result<()> {
    let received_at = db::now();
    let mut tx = db.begin().await?;
    let all: Vec<&Reading> = jobs.iter().flat_map(|j| j.rows.iter()).collect();
    for chunk in all.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql(chunk.len(), engine);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.device_id)
                .bind(&r.sensor)
                .bind(r.value)
                .bind(&r.unit)
                .bind(r.ts)
                .bind(received_at);
        }
        q.execute(&mut *tx).await?;
    }
    // The newest reading per (device, sensor) of this commit, once each.
    let mut newest: HashMap<(i64, &str), &Reading> = HashMap::new();
    for r in &all {
        let slot = newest.entry((r.device_id, r.sensor.as_str())).or_insert(r);
        if r.ts >= slot.ts {
            *slot = r;
        }
    }
    let newest: Vec<&Reading> = newest.into_values().collect();
    for chunk in newest.chunks(ROWS_PER_STATEMENT) {
        let sql = upsert_latest_sql(chunk.len(), engine);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.device_id)
                .bind(&r.sensor)
                .bind(r.value)
                .bind(&r.unit)
                .bind(r.ts);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Keeps `latest_readings` at the newest reading of each sensor.
fn upsert_latest_sql(rows: usize, engine: Engine) -> String {
    format!(
        "INSERT INTO latest_readings (device_id, sensor, value, unit, ts) VALUES {} \
         ON CONFLICT (device_id, sensor) DO UPDATE SET value = excluded.value, unit = excluded.unit, ts = excluded.ts \
         WHERE excluded.ts >= latest_readings.ts",
        values(rows, 5, engine)
    )
}

/// A multi-row INSERT. SQLite gets anonymous `?` placeholders: it looks
/// numbered ones up by a linear scan per parameter, which made a 3000-
/// parameter statement spend most of its time finding names.
fn insert_sql(rows: usize, engine: Engine) -> String {
    format!(
        "INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) VALUES {}",
        values(rows, 6, engine)
    )
}

/// `(…), (…)` placeholders for `rows` rows of `cols` values.
fn values(rows: usize, cols: usize, engine: Engine) -> String {
    (0..rows)
        .map(|i| {
            let cells: Vec<String> = (1..=cols)
                .map(|c| match engine {
                    Engine::Sqlite => "?".to_owned(),
                    Engine::Postgres => format!("${}", i * cols + c),
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{insert_sql, Engine};

    #[test]
    fn placeholders_suit_each_engine() {
        let head = "INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) VALUES ";
        assert_eq!(
            insert_sql(2, Engine::Postgres),
            format!("{head}($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)")
        );
        assert_eq!(
            insert_sql(2, Engine::Sqlite),
            format!("{head}(?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)")
        );
    }
}
