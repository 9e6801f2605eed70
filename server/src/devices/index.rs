//! The device registry in memory, for the TLS handshake (which cannot wait
//! on the database) and for every device request: certificate thumbprint →
//! device and status. Written through after each database change.

use std::{
    collections::{HashMap, HashSet},
    sync::RwLock,
};

use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub registration_id: String,
    pub active: bool,
    pub ca_issued: bool,
    /// The enrollment group it registered through: its chain must end at
    /// that group's CA.
    pub group: Option<i64>,
    pub serial: Option<String>,
    /// Refused from then on (seconds): a certificate replaced or retired.
    pub retire_at: Option<i64>,
    /// Its first use is still to be recorded (and with it its notAfter, and
    /// the retirement of the certificates it replaces).
    pub first_use_pending: bool,
}

impl Entry {
    /// Whether this certificate may be used at `now`: its device active,
    /// itself not retired.
    pub fn usable_at(&self, now: i64) -> bool {
        self.active && self.retire_at.is_none_or(|t| now < t)
    }
}

pub struct DeviceIndex {
    by_thumbprint: RwLock<HashMap<String, Entry>>,
    /// Device id → registration id.
    names: RwLock<HashMap<i64, String>>,
    revoked_serials: RwLock<HashSet<String>>,
    /// Devices revoked: an entry written later (from a read that raced the
    /// revocation) never makes one active again.
    revoked_devices: RwLock<HashSet<i64>>,
    /// Bumped at each revocation: open device connections re-check themselves.
    revocations: watch::Sender<u64>,
}

impl std::fmt::Debug for DeviceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceIndex")
    }
}

impl Default for DeviceIndex {
    fn default() -> Self {
        DeviceIndex {
            by_thumbprint: RwLock::default(),
            names: RwLock::default(),
            revoked_serials: RwLock::default(),
            revoked_devices: RwLock::default(),
            revocations: watch::channel(0).0,
        }
    }
}

impl DeviceIndex {
    pub fn get(&self, thumbprint: &str) -> Option<Entry> {
        self.by_thumbprint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(thumbprint)
            .cloned()
    }

    /// Whether this certificate may be used at `now` (see `Entry::usable_at`).
    pub fn is_usable(&self, thumbprint: &str, now: i64) -> bool {
        self.get(thumbprint).is_some_and(|e| e.usable_at(now))
    }

    /// Notes that a certificate's first use is being recorded, so that it
    /// is recorded once; `true` for the caller that should record it.
    pub fn take_first_use(&self, thumbprint: &str) -> bool {
        // Nearly always recorded already: a read lock says so.
        if !self.get(thumbprint).is_some_and(|e| e.first_use_pending) {
            return false;
        }
        let mut map = self
            .by_thumbprint
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match map.get_mut(thumbprint) {
            Some(e) if e.first_use_pending => {
                e.first_use_pending = false;
                true
            }
            _ => false,
        }
    }

    /// Tells open device connections to look at their certificate again
    /// (one was retired).
    pub fn changed(&self) {
        self.revocations.send_modify(|n| *n += 1);
    }

    pub fn serial_revoked(&self, serial: &str) -> bool {
        self.revoked_serials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(serial)
    }

    pub fn registration_id(&self, id: i64) -> Option<String> {
        self.names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// The id of the device with this registration id (a scan: for rare
    /// lookups, such as a subscription).
    pub fn id_of(&self, registration_id: &str) -> Option<i64> {
        self.names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(_, rid)| rid.as_str() == registration_id)
            .map(|(id, _)| *id)
    }

    pub fn insert(&self, thumbprint: String, mut entry: Entry) {
        self.names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.id, entry.registration_id.clone());
        if self
            .revoked_devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&entry.id)
        {
            entry.active = false;
        }
        let mut map = self
            .by_thumbprint
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // A retirement only ever comes sooner: an entry read before one
        // committed does not take it back.
        if let Some(old) = map.get(&thumbprint).and_then(|e| e.retire_at) {
            entry.retire_at = Some(entry.retire_at.map_or(old, |t| t.min(old)));
        }
        if !entry.active && entry.ca_issued {
            if let Some(s) = &entry.serial {
                self.revoked_serials
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(s.clone());
            }
        }
        map.insert(thumbprint, entry);
    }

    /// Marks a device revoked and tells its open connections.
    pub fn revoke(&self, id: i64) {
        self.revoked_devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        let mut map = self
            .by_thumbprint
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for e in map.values_mut().filter(|e| e.id == id) {
            e.active = false;
            if let Some(s) = e.serial.as_ref().filter(|_| e.ca_issued) {
                self.revoked_serials
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(s.clone());
            }
        }
        drop(map);
        self.revocations.send_modify(|n| *n += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_a_device_deactivates_it_records_its_serial_and_notifies() {
        let idx = DeviceIndex::default();
        let rx = idx.subscribe();
        idx.insert(
            "aa".into(),
            Entry {
                id: 7,
                registration_id: "seven".into(),
                active: true,
                ca_issued: true,
                group: None,
                serial: Some("01".into()),
                retire_at: None,
                first_use_pending: false,
            },
        );
        assert!(idx.is_usable("aa", 0));
        idx.revoke(7);
        assert!(!idx.is_usable("aa", 0));
        assert!(idx.serial_revoked("01"));
        assert!(rx.has_changed().unwrap());
        // A read that raced the revocation cannot make it active again.
        idx.insert(
            "aa".into(),
            Entry {
                id: 7,
                registration_id: "seven".into(),
                active: true,
                ca_issued: true,
                group: None,
                serial: Some("01".into()),
                retire_at: None,
                first_use_pending: false,
            },
        );
        assert!(!idx.is_usable("aa", 0));
    }
}
