//! Wake-ups of the devices waiting for commands (an HTTP long-poll, an
//! MQTT session): one counter per device that has a waiter, dropped with
//! its last waiter. Queueing a command bumps it; each waiter sees every
//! bump it has not seen yet, so none is lost between two looks at the
//! store, and nothing polls the database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::watch;

type Map = Arc<Mutex<HashMap<i64, (watch::Sender<u64>, usize)>>>;

#[derive(Default)]
pub struct Waiters {
    by_device: Map,
}

impl Waiters {
    pub fn waiter(&self, device_id: i64) -> Waiter {
        let mut map = self.by_device.lock().unwrap_or_else(|p| p.into_inner());
        let (tx, n) = map
            .entry(device_id)
            .or_insert_with(|| (watch::channel(0).0, 0));
        *n += 1;
        Waiter {
            device_id,
            rx: tx.subscribe(),
            map: self.by_device.clone(),
        }
    }

    /// Wakes every waiter of the device (none: nothing happens).
    pub fn wake(&self, device_id: i64) {
        let map = self.by_device.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tx, _)) = map.get(&device_id) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// One waiter of a device.
pub struct Waiter {
    device_id: i64,
    rx: watch::Receiver<u64>,
    map: Map,
}

impl Waiter {
    /// Forgets the wake-ups so far: call just before looking in the store.
    pub fn mark_seen(&mut self) {
        self.rx.borrow_and_update();
    }

    /// Resolves at the first wake-up not yet seen (at once if one came
    /// since the last look).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
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
    async fn a_wake_reaches_the_devices_waiters_only_and_is_never_lost() {
        let w = Waiters::default();
        let (mut a, mut b) = (w.waiter(1), w.waiter(2));
        a.mark_seen();
        b.mark_seen();
        // Woken between two looks: the next wait returns at once.
        w.wake(1);
        tokio::time::timeout(std::time::Duration::from_millis(100), a.changed())
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), b.changed())
                .await
                .is_err(),
            "another device's waiter sleeps on"
        );
        drop((a, b));
        assert!(w.by_device.lock().unwrap().is_empty());
    }
}
