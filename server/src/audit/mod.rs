//! The audit log: who did what to whom, from where. Every security event
//! (logins, logouts, revocations, users and devices changed) is written
//! here; `GET /api/v1/audit` reads it back (admin).

mod routes;
mod store;

use std::net::IpAddr;

pub use app::types::AuditEvent as Event;
pub use routes::router;

use crate::db::{self, Db};

/// The log. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    db: Db,
}

impl Audit {
    pub fn new(db: Db) -> Self {
        Audit { db }
    }

    pub async fn record(&self, entry: Entry) -> sqlx::Result<()> {
        store::insert(&self.db, &entry, db::now()).await
    }
}

/// One event being written:
/// `audit.record(Entry::new(ev).actor(..).subject(..)).await`.
pub struct Entry {
    event: Event,
    actor: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    detail: Option<String>,
}

impl Entry {
    pub fn new(event: Event) -> Self {
        Entry {
            event,
            actor: None,
            subject: None,
            ip: None,
            detail: None,
        }
    }
    pub fn actor(mut self, a: impl Into<String>) -> Self {
        self.actor = Some(a.into());
        self
    }
    pub fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = Some(s.into());
        self
    }
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip.to_string());
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}
