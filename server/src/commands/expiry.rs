//! The sweeper: expires open commands when their time is up (looked at
//! four times a second, and only when the earliest expiry has passed, so
//! an idle platform costs no query), and cancels the open commands of
//! devices as they are revoked (and, at start, of any revoked while this
//! instance was down).

use std::time::Duration;

use tokio::{sync::watch, task::JoinHandle};

use super::Commands;

const TICK: Duration = Duration::from_millis(250);
/// The earliest expiry is read again this often, for commands queued by
/// other instances sharing the database.
const REREAD: Duration = Duration::from_secs(30);

pub fn spawn(commands: Commands, mut revocations: watch::Receiver<u64>) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = commands.cancel_for_revoked_devices().await {
            tracing::warn!(error = %e, "cancelling the commands of revoked devices failed");
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reread = tokio::time::Instant::now() + REREAD;
        loop {
            tokio::select! {
                changed = revocations.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if let Err(e) = commands.cancel_for_revoked_devices().await {
                        tracing::warn!(error = %e, "cancelling the commands of revoked devices failed");
                    }
                }
                _ = tick.tick() => {
                    let now = tokio::time::Instant::now();
                    if commands.due() || now >= reread {
                        reread = now + REREAD;
                        if let Err(e) = commands.expire_due().await {
                            tracing::warn!(error = %e, "expiring commands failed");
                        }
                    }
                }
            }
        }
    })
}
