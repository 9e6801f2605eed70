//! Ends open device connections when their device is revoked: the hook the
//! south listener's accept loop runs beside each connection.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::index::DeviceIndex;
use crate::net::{ConnectionWatch, PeerCert};

pub struct RevocationWatch {
    index: Arc<DeviceIndex>,
}

impl RevocationWatch {
    pub fn new(index: Arc<DeviceIndex>) -> Self {
        RevocationWatch { index }
    }
}

impl ConnectionWatch for RevocationWatch {
    fn ended(&self, peer: Option<&PeerCert>) -> BoxFuture<'static, ()> {
        let index = self.index.clone();
        let thumbprint = peer.map(|p| p.thumbprint.clone());
        // Subscribed before the first look, so a revocation landing in
        // between is seen by one or the other.
        let mut revocations = index.subscribe();
        Box::pin(async move {
            let Some(thumbprint) = thumbprint else {
                return;
            };
            while index.is_active(&thumbprint) {
                if revocations.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
