//! Every certificate a device may present, and how they change: renewal
//! over mutual TLS from a CSR (the new certificate, signed by the device
//! CA, replaces the one that asked; the old keeps working until the new is
//! first used or `VIGIL_CERT_OVERLAP` passes), second thumbprints for
//! self-signed devices, retirement by an operator. A retired certificate is
//! refused at the handshake (the index knows its `retire_at`), its open
//! connections end, and the tokens bound to it are revoked.
//!
//! - `store`: SQL.
//! - `routes`: `/api/v1/devices/{id}/certificates` (north).
//! - `south`: `POST /device/v1/certificate` (renewal).

mod routes;
mod south;
pub mod store;

use std::time::Duration;

pub use routes::router;
pub use south::router as south_router;

use super::Devices;
use crate::tokens::Tokens;

/// How often due retirements are settled (their tokens revoked, their
/// connections told). The handshake refuses a retired certificate on the
/// second without waiting for it.
const SETTLE_EVERY: Duration = Duration::from_secs(5);

/// At most this many certificates a device may hold at once (not retired):
/// a device renewing in a loop cannot fill the registry.
pub const MAX_USABLE: i64 = 5;

impl Devices {
    /// A certificate was used for a request or an MQTT session. The first
    /// time, its use is recorded in the background, with its notAfter, and
    /// the certificates it replaced retire at once.
    pub fn used(&self, tokens: &Tokens, device_id: i64, thumbprint: &str, not_after: i64) {
        if !self.0.index.take_first_use(thumbprint) {
            return;
        }
        let (devices, tokens, thumbprint) = (self.clone(), tokens.clone(), thumbprint.to_owned());
        tokio::spawn(async move {
            let now = tokens.clock().now();
            if let Err(e) =
                store::first_use(&devices.0.db, device_id, &thumbprint, not_after, now).await
            {
                tracing::warn!(error = %e, device_id, "recording a certificate's first use failed");
                return;
            }
            // The index first: the handshake refuses the replaced
            // certificates as soon as the database does.
            if let Err(e) = devices.reload(device_id).await {
                tracing::warn!(error = %e, device_id, "reading a device again failed");
            }
            devices.settle_retired(&tokens).await;
        });
    }

    /// Revokes the tokens bound to certificates whose retirement has come,
    /// and tells their devices' open connections.
    pub async fn settle_retired(&self, tokens: &Tokens) {
        match store::revoke_retired_tokens(&self.0.db, tokens.clock().now()).await {
            Ok((devices, revoked)) => {
                tokens.refuse(revoked);
                for id in &devices {
                    if let Err(e) = self.reload(*id).await {
                        tracing::warn!(error = %e, device_id = id, "reading a device again failed");
                    }
                }
                if !devices.is_empty() {
                    self.0.index.changed();
                }
            }
            Err(e) => tracing::warn!(error = %e, "settling retired certificates failed"),
        }
    }
}

/// Settles due retirements every few seconds (the overlap of a renewal
/// that was never used ends this way).
pub fn spawn_settling(devices: Devices, tokens: Tokens) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SETTLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            devices.settle_retired(&tokens).await;
        }
    })
}
