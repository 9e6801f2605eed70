//! Background upkeep of the registry: expired tokens are marked, old ones
//! purged, and revocations made by other instances sharing the database are
//! picked up into the in-memory view.

use std::time::Duration;

use crate::{db, state::AppState, tokens::store};

/// How often revocations from other instances are pulled in.
const SYNC_EVERY: Duration = Duration::from_secs(2);
/// How far back each pull looks: covers commits that land after their
/// `blacklisted_at` and modest clock skew between instances. Each sweep also
/// reloads every revocation, catching anything older.
const SYNC_OVERLAP_SECS: i64 = 30;

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_sync = db::now();
        let mut last_sweep = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(SYNC_EVERY);
        loop {
            tick.tick().await;
            let now = db::now();
            match store::revoked_since(&state.db, now, last_sync - SYNC_OVERLAP_SECS).await {
                Ok(entries) => {
                    state.revoked.extend(entries);
                    last_sync = now;
                }
                Err(e) => tracing::warn!(error = %e, "revocation sync failed"),
            }
            if last_sweep.elapsed() >= state.settings.sweep_interval {
                last_sweep = tokio::time::Instant::now();
                sweep_once(&state).await;
            }
        }
    })
}

pub async fn sweep_once(state: &AppState) {
    let now = db::now();
    let purge_before = now - state.settings.token_retention.as_secs() as i64;
    match store::sweep(&state.db, now, purge_before).await {
        Ok((marked, purged)) if marked + purged > 0 => {
            tracing::info!(marked, purged, "token registry swept")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "token sweep failed"),
    }
    match store::revoked_since(&state.db, now, 0).await {
        Ok(all) => state.revoked.extend(all),
        Err(e) => tracing::warn!(error = %e, "revocation reload failed"),
    }
    state.revoked.prune(now);
}
