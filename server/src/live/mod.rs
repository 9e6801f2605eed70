//! Live readings for the dashboard and any user application.
//!
//! `GET /api/v1/live[?device_id=N]` answers server-sent events, read by the
//! browser with fetch so that the token travels in the `x-access-token`
//! header like on every other route, never in a URL. Events: `ready` once
//! subscribed, `readings` (a JSON array) per committed batch, `commands`
//! (a command object) on each change of a command's status, `end` with a
//! reason before closing. The stream ends within a quarter of a second of
//! its token being revoked or expiring.
//!
//! Fan-out: each commit of the readings writer is serialized once
//! (`LiveBatch`) and the same bytes go to every stream through a broadcast
//! channel, so publishing never waits and costs the same for one viewer or
//! many. A stream sends at most one `readings` event per 25 ms: batches
//! that arrive within the gap, or pile up while a client's event is being
//! written, are merged into its next event. A client with its byte budget
//! queued unread, or one the channel overtakes, is dropped.

mod batch;
mod stream;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::body::Bytes;
use tokio::sync::broadcast;

pub use batch::LiveBatch;
pub use stream::router;

use crate::{metrics::METRICS, readings::Reading};

/// Batches a subscriber may fall behind before it is dropped.
const CHANNEL: usize = 1024;

/// The fan-out of committed readings, and the streams each user holds.
/// Cheap to clone.
#[derive(Clone)]
pub struct LiveHub {
    tx: broadcast::Sender<Arc<LiveBatch>>,
    events: broadcast::Sender<Arc<DeviceEvent>>,
    max_per_user: usize,
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

impl LiveHub {
    pub fn new(max_per_user: usize) -> Self {
        LiveHub {
            tx: broadcast::channel(CHANNEL).0,
            events: broadcast::channel(CHANNEL).0,
            max_per_user,
            open: Arc::default(),
        }
    }

    /// A stream for this user, or `None` when the user holds the most
    /// allowed. The stream is counted until the returned slot is dropped.
    pub fn open_stream(&self, user_id: i64) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(user_id).or_insert(0);
        if *n >= self.max_per_user {
            return None;
        }
        *n += 1;
        METRICS.live_streams.inc();
        Some(StreamSlot {
            user_id,
            open: self.open.clone(),
        })
    }

    /// Never waits: with no subscriber the batch is not even serialized.
    /// The readings writer publishes once per commit, all its requests'
    /// readings in one batch.
    pub fn publish<'a>(&self, rows: impl IntoIterator<Item = &'a Reading>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let batch = LiveBatch::new(rows);
        if !batch.is_empty() {
            let _ = self.tx.send(Arc::new(batch));
        }
    }

    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveBatch>> {
        self.tx.subscribe()
    }

    /// An event about one device, already serialized (a command's change):
    /// sent to the streams of all devices and of that one.
    pub fn publish_event(&self, name: &'static str, device_id: i64, data: Bytes) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let _ = self.events.send(Arc::new(DeviceEvent {
            name,
            device_id,
            data,
        }));
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<DeviceEvent>> {
        self.events.subscribe()
    }
}

/// An event of the stream other than readings.
pub struct DeviceEvent {
    pub name: &'static str,
    pub device_id: i64,
    /// JSON.
    pub data: Bytes,
}

/// One open stream of a user; its end gives the slot back.
pub struct StreamSlot {
    user_id: i64,
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        METRICS.live_streams.dec();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}
