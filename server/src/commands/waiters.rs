//! Wake-ups of the devices waiting for commands: one `Notify` per device
//! that has a long-poll (or, later, another transport) waiting, dropped
//! with its last waiter. Queueing a command wakes them at once; nothing
//! polls the database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::{futures::Notified, Notify};

#[derive(Default)]
pub struct Waiters {
    by_device: Arc<Mutex<HashMap<i64, (Arc<Notify>, usize)>>>,
}

impl Waiters {
    pub fn waiter(&self, device_id: i64) -> Waiter {
        let mut map = self.by_device.lock().unwrap_or_else(|p| p.into_inner());
        let (notify, n) = map
            .entry(device_id)
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        *n += 1;
        Waiter {
            device_id,
            notify: notify.clone(),
            map: self.by_device.clone(),
        }
    }

    /// Wakes every waiter of the device (none: nothing happens).
    pub fn wake(&self, device_id: i64) {
        let map = self.by_device.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((notify, _)) = map.get(&device_id) {
            notify.notify_waiters();
        }
    }
}

/// One waiter of a device. Take `notified()` and `enable()` it *before*
/// looking for queued commands, so a command queued in between wakes it.
pub struct Waiter {
    device_id: i64,
    notify: Arc<Notify>,
    map: Arc<Mutex<HashMap<i64, (Arc<Notify>, usize)>>>,
}

impl Waiter {
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, n)) = map.get_mut(&self.device_id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.device_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_the_devices_waiters_only() {
        let w = Waiters::default();
        let (a, b) = (w.waiter(1), w.waiter(2));
        {
            let (na, nb) = (a.notified(), b.notified());
            tokio::pin!(na, nb);
            na.as_mut().enable();
            nb.as_mut().enable();
            w.wake(1);
            assert!(futures_util::poll!(na).is_ready());
            assert!(futures_util::poll!(nb).is_pending());
        }
        drop((a, b));
        assert!(w.by_device.lock().unwrap().is_empty());
    }
}
