//! The registry of open MQTT sessions: each is registered under its token
//! id, its device or user, and its listener while it lives. Sessions end
//! themselves when their credential goes (they watch the token registry's
//! revocations and their token's expiry); the registry says who is
//! connected, for counts and, later, for the other instances of a cluster.

use crate::metrics::METRICS;
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

/// One open session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// `devices` or `clients`.
    pub listener: &'static str,
    pub token_id: String,
    pub device_id: Option<i64>,
    pub user_id: Option<i64>,
    pub peer: SocketAddr,
}

/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Inner>);

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    open: Mutex<HashMap<u64, SessionInfo>>,
}

impl Sessions {
    /// Registers a session until the returned guard is dropped.
    pub fn register(&self, info: SessionInfo) -> Registered {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        let listener = info.listener;
        self.lock().insert(id, info);
        METRICS.mqtt_sessions_add(listener, 1);
        Registered {
            id,
            listener,
            sessions: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SessionInfo>> {
        self.0.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open sessions, all or of one device.
    pub fn list(&self, device_id: Option<i64>) -> Vec<SessionInfo> {
        self.lock()
            .values()
            .filter(|s| device_id.is_none_or(|d| s.device_id == Some(d)))
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A session's place in the registry, given back when it ends.
pub struct Registered {
    id: u64,
    listener: &'static str,
    sessions: Sessions,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
        METRICS.mqtt_sessions_add(self.listener, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_listed_while_it_lives() {
        let s = Sessions::default();
        let info = |device| SessionInfo {
            listener: "devices",
            token_id: "t".into(),
            device_id: Some(device),
            user_id: None,
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        let a = s.register(info(1));
        let _b = s.register(info(2));
        assert_eq!(s.list(Some(1)).len(), 1);
        assert_eq!(s.len(), 2);
        drop(a);
        assert!(s.list(Some(1)).is_empty());
        assert_eq!(s.len(), 1);
    }
}
