//! The audit log: who did what to whom, from where. Every security event
//! (logins, logouts, revocations, users and devices changed) is written
//! here; `GET /api/v1/audit` reads it back (admin). Entries older than the
//! retention (`VIGIL_AUDIT_RETENTION`) are trimmed in bounded batches.

mod routes;
pub mod store;

use std::{net::IpAddr, time::Duration};

use tokio::task::JoinHandle;

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

    /// Writes the entry in the caller's transaction: the change and its
    /// record commit together, or neither does.
    pub async fn record_in(conn: &mut sqlx::AnyConnection, entry: &Entry) -> sqlx::Result<()> {
        store::insert(conn, entry, db::now()).await
    }

    /// Deletes entries older than `retention`, in bounded batches with a
    /// pause between them, so that trimming a long log never holds the
    /// database (and the readings writer) for long.
    pub async fn trim(&self, retention: Duration) -> sqlx::Result<u64> {
        let before = db::now() - retention.as_secs() as i64;
        db::delete_in_batches(&self.db, store::TRIM, before, TRIM_BATCH).await
    }

    /// Trims the log every `every`.
    pub fn spawn_retention(self, retention: Duration, every: Duration) -> JoinHandle<()> {
        db::spawn_trimming("audit log", every, move || {
            let audit = self.clone();
            async move { audit.trim(retention).await }
        })
    }
}

/// Entries deleted per statement.
const TRIM_BATCH: i64 = 1000;

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
