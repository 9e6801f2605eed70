//! Background upkeep of the registry: expired tokens are marked, old ones
//! purged, and revocations made by other instances sharing the database are
//! taken into the in-memory view.

use std::time::Duration;

use super::{store, Tokens};

/// How often revocations from other instances are pulled in.
const SYNC_EVERY: Duration = Duration::from_secs(2);
/// How far back each pull looks: covers commits that land after their
/// `blacklisted_at` and modest clock skew between instances. Each sweep also
/// reloads every revocation, catching anything older.
const SYNC_OVERLAP_SECS: i64 = 30;

pub fn spawn(
    tokens: Tokens,
    sweep_every: Duration,
    retention: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_sync = tokens.clock().now();
        let mut last_sweep = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(SYNC_EVERY);
        loop {
            tick.tick().await;
            let now = tokens.clock().now();
            match store::revoked_since(tokens.db(), now, last_sync - SYNC_OVERLAP_SECS).await {
                Ok(entries) => {
                    tokens.refuse(entries);
                    last_sync = now;
                }
                Err(e) => tracing::warn!(error = %e, "revocation sync failed"),
            }
            if last_sweep.elapsed() >= sweep_every {
                last_sweep = tokio::time::Instant::now();
                sweep_once(&tokens, retention).await;
            }
        }
    })
}

pub async fn sweep_once(tokens: &Tokens, retention: Duration) {
    let now = tokens.clock().now();
    let purge_before = now - retention.as_secs() as i64;
    match store::sweep(tokens.db(), now, purge_before).await {
        Ok((marked, purged)) if marked + purged > 0 => {
            tracing::info!(marked, purged, "token registry swept")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "token sweep failed"),
    }
    match store::revoked_since(tokens.db(), now, 0).await {
        Ok(all) => tokens.refuse(all),
        Err(e) => tracing::warn!(error = %e, "revocation reload failed"),
    }
    tokens.0.revoked.prune(now);
    // Signing keys past their verification period: their tokens have all
    // expired.
    match super::keys::prune(tokens.db(), now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(keys = n, "retired signing keys deleted"),
        Err(e) => tracing::warn!(error = %e, "deleting retired signing keys failed"),
    }
}
