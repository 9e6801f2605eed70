//! An instance's orderly stop (SIGTERM, SIGINT): one signal every part
//! listens to. The accept loops stop accepting, HTTP connections finish the
//! request in flight and close, live streams end with `shutdown`, long-polls
//! answer what they have, and MQTT sessions settle what they hold and say
//! goodbye; `startup::Application::shutdown` then flushes the writer and
//! last-seen times and closes the database.

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Cheap to clone; every clone sees the one stop.
#[derive(Clone, Default)]
pub struct Stopping(CancellationToken);

impl Stopping {
    /// Tells every part to stop.
    pub fn stop(&self) {
        self.0.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once the stop is asked for (at once if it already was).
    pub fn stopped(&self) -> WaitForCancellationFuture<'_> {
        self.0.cancelled()
    }

    /// The same, owning its token: for a future that must be `'static`.
    pub async fn stopped_owned(self) {
        self.0.cancelled_owned().await
    }
}
