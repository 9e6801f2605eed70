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
//! - `changes`: the `changes` table, read by sequence number and applied.
//! - `readings`: readings stored elsewhere, read back for the live streams.

mod changes;
mod readings;

use std::time::Duration;

use sqlx::{postgres::PgListener, Row};
use tokio::sync::watch;

use crate::{commands::Commands, db::Db, devices::Devices, live::LiveHub, tokens::Tokens};

const CHANNEL: &str = "vigil_changes";
const READINGS: &str = "vigil_readings";
/// Announcements of readings waiting to be read back; past it, dropped
/// (live delivery is best-effort when an instance falls behind).
const READINGS_QUEUE: usize = 1024;

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
    let reading_back = tokio::spawn(readings::read_back(
        db.clone(),
        targets.live.clone(),
        readings_rx,
    ));
    let listening = tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.channel() == READINGS => {
                    if let Some(runs) = readings::of_others(n.payload(), &me_name) {
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
    let me = changes::Me {
        instance: instance.to_owned(),
        targets,
    };
    let applying = tokio::spawn(changes::apply_loop(db, me, start, poked));
    Ok(vec![listening, applying, reading_back])
}

async fn listen(url: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([CHANNEL, READINGS]).await?;
    Ok(listener)
}
