//! Live readings for the dashboard and any user application.
//!
//! `GET /api/v1/live[?device_id=N]` answers server-sent events, read by the
//! browser with fetch so that the token travels in the `x-access-token`
//! header like on every other route, never in a URL. Events: `ready` once
//! subscribed, `readings` (a JSON array) per committed batch, `end` with a
//! reason before closing. The stream ends within a quarter of a second of
//! its token being revoked or expiring.
//!
//! Fan-out: each committed batch is serialized once (`LiveBatch`) and the
//! same bytes go to every stream through a broadcast channel, so
//! publishing never waits and costs the same for one viewer or many.
//! Batches that pile up while a client's event is being written are merged
//! into its next event; a client with 1 MiB queued unread, or one the
//! channel overtakes, is dropped.

mod batch;
mod stream;

use std::sync::Arc;

use tokio::sync::broadcast;

pub use batch::LiveBatch;
pub use stream::router;

use crate::readings::Reading;

/// Batches a subscriber may fall behind before it is dropped.
const CHANNEL: usize = 1024;

/// The fan-out of committed readings. Cheap to clone.
#[derive(Clone)]
pub struct LiveHub {
    tx: broadcast::Sender<Arc<LiveBatch>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub {
            tx: broadcast::channel(CHANNEL).0,
        }
    }
}

impl LiveHub {
    /// Never waits: with no subscriber the batch is not even serialized.
    pub fn publish(&self, rows: &[Reading]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let _ = self.tx.send(Arc::new(LiveBatch::new(rows)));
    }

    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveBatch>> {
        self.tx.subscribe()
    }
}
