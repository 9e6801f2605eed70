//! Ends open device connections when their device is revoked or their
//! certificate expires: the hook the south listener's accept loop runs
//! beside each connection.

use std::{sync::Arc, time::Duration};

use futures_util::future::BoxFuture;

use super::index::DeviceIndex;
use crate::{
    clock::Clock,
    net::{ConnectionWatch, PeerCert},
};

pub struct RevocationWatch {
    index: Arc<DeviceIndex>,
    clock: Clock,
}

impl RevocationWatch {
    pub fn new(index: Arc<DeviceIndex>, clock: Clock) -> Self {
        RevocationWatch { index, clock }
    }
}

/// How often an open connection's certificate expiry is looked at again
/// (the clock may be moved; the request layer refuses at once anyway).
const EXPIRY_CHECK: Duration = Duration::from_secs(30);

impl ConnectionWatch for RevocationWatch {
    fn ended(&self, peer: Option<&PeerCert>) -> BoxFuture<'static, ()> {
        let (index, clock) = (self.index.clone(), self.clock.clone());
        let cert = peer.map(|p| (p.thumbprint.clone(), p.not_after));
        // Subscribed before the first look, so a revocation landing in
        // between is seen by one or the other.
        let mut revocations = index.subscribe();
        Box::pin(async move {
            let Some((thumbprint, not_after)) = cert else {
                return;
            };
            loop {
                let now = clock.now();
                // A certificate no device has yet (one registering) is
                // not revoked: it is watched from its registration on.
                let entry = index.get(&thumbprint);
                let revoked = entry.as_ref().is_some_and(|e| !e.usable_at(now));
                // It ends at its notAfter, or at its retirement if sooner.
                let end = entry
                    .and_then(|e| e.retire_at)
                    .map_or(not_after, |t| t.min(not_after));
                let left = end - now;
                if revoked || left < 0 {
                    return;
                }
                let wait = Duration::from_secs(left as u64 + 1).min(EXPIRY_CHECK);
                tokio::select! {
                    changed = revocations.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(wait) => {}
                }
            }
        })
    }
}
