//! The platform's clock. Everything that judges time (token expiry, the
//! live stream's checks, throttling windows) reads it here, so a test can
//! move it forward instead of sleeping.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

/// Wall-clock time plus an offset that only tests change. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Seconds since the Unix epoch: the time unit of every column.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Milliseconds since the Unix epoch (reading times).
    pub fn now_ms(&self) -> i64 {
        // SystemTime rather than chrono: no calendar arithmetic on the
        // gateway's path, which reads the time on every request.
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        since_epoch + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_moves_every_clone() {
        let c = Clock::default();
        let copy = c.clone();
        let before = copy.now();
        c.advance(std::time::Duration::from_secs(3600));
        assert!(copy.now() >= before + 3600);
    }
}
