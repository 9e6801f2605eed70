//! Devices: enrollment (a self-signed certificate's thumbprint, or a CSR the
//! device CA signs), registration through an enrollment group, the registry
//! and its in-memory index, the south listener's certificate verifier and
//! request layer, device tokens, and revocation — which ends the device's
//! open connections.

pub mod certificates;
pub mod certs;
mod gateway;
pub mod groups;
pub mod index;
mod last_seen;
mod list;
mod routes;
mod south;
pub mod store;
pub mod verifier;
mod watch;

use std::sync::Arc;

use app::types::Enrollment;

pub use gateway::DeviceLayer;
pub use routes::router;
pub use south::router as south_router;
pub use watch::RevocationWatch;

use crate::db::{self, Db};
use certs::{CertError, DeviceCa};
use groups::GroupIndex;
use index::{DeviceIndex, Entry};
use last_seen::LastSeen;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Taken(String),
    #[error("no such device")]
    NotFound,
    #[error("no such enrollment group")]
    NoGroup,
    /// Refused whatever the caller's role (403).
    #[error("{0}")]
    Refused(String),
    #[error("device store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(anyhow::Error),
}

impl From<CertError> for DeviceError {
    fn from(e: CertError) -> Self {
        match e {
            CertError::Invalid(m) => DeviceError::Invalid(m),
            CertError::Signing(e) => DeviceError::Internal(e.into()),
        }
    }
}

/// The device registry, its index and CA. Cheap to clone.
#[derive(Clone)]
pub struct Devices(Arc<Inner>);

struct Inner {
    db: Db,
    index: Arc<DeviceIndex>,
    groups: Arc<GroupIndex>,
    ca: DeviceCa,
    cert_days: u32,
    /// How long a renewed certificate keeps working beside its successor.
    cert_overlap: std::time::Duration,
    tokens_per_hour: u32,
    last_seen: LastSeen,
    /// Each device new to this instance (enrolled or registered here or on
    /// another instance), for the live streams.
    added: tokio::sync::broadcast::Sender<app::types::Device>,
}

/// What the registry is set up with.
pub struct DeviceSettings {
    pub cert_days: u32,
    pub cert_overlap: std::time::Duration,
    pub tokens_per_hour: u32,
}

impl Devices {
    /// Loads every device's certificates and every enrollment group into
    /// the indexes.
    pub async fn load(
        db: Db,
        ca: DeviceCa,
        provider: Arc<rustls::crypto::CryptoProvider>,
        settings: DeviceSettings,
    ) -> sqlx::Result<Devices> {
        let index = Arc::new(DeviceIndex::default());
        for row in certificates::store::all(&db).await? {
            index.insert(row.cert_sha256.clone(), entry(&row));
        }
        let groups = Arc::new(GroupIndex::new(provider));
        for row in groups::store::all(&db).await? {
            groups.put(&row);
        }
        Ok(Devices(Arc::new(Inner {
            db,
            index,
            groups,
            ca,
            cert_days: settings.cert_days,
            cert_overlap: settings.cert_overlap,
            tokens_per_hour: settings.tokens_per_hour,
            last_seen: LastSeen::default(),
            added: tokio::sync::broadcast::channel(64).0,
        })))
    }

    pub fn index(&self) -> &Arc<DeviceIndex> {
        &self.0.index
    }

    pub fn groups(&self) -> &Arc<GroupIndex> {
        &self.0.groups
    }

    /// Reads one enrollment group again into its index, after another
    /// instance created, verified or revoked it.
    pub async fn reload_group(&self, id: i64) -> sqlx::Result<()> {
        if let Some(row) = groups::store::get(&self.0.db, id).await? {
            self.0.groups.put(&row);
        }
        Ok(())
    }

    /// Reads one device's certificates again into the index, after a
    /// change here or on another instance (enrolled, revoked, renewed, a
    /// certificate retired); a revocation or retirement also tells its open
    /// connections.
    pub async fn reload(&self, id: i64) -> sqlx::Result<()> {
        let new = self.0.index.registration_id(id).is_none();
        let rows = certificates::store::of_device(&self.0.db, id).await?;
        // Open connections look again when a retirement is to come or has
        // just come (an old one changes nothing for them).
        let recent = db::now() - 60;
        let mut tell = false;
        for row in &rows {
            let e = entry(row);
            tell |= e.retire_at.is_some_and(|t| t > recent);
            self.0.index.insert(row.cert_sha256.clone(), e);
        }
        if rows.first().is_some_and(|r| !r.active) {
            self.0.index.revoke(id);
        } else if tell {
            self.0.index.changed();
        }
        if new && !rows.is_empty() && self.0.added.receiver_count() > 0 {
            if let Some(row) = store::get(&self.0.db, id).await? {
                let _ = self.0.added.send(row.device);
            }
        }
        Ok(())
    }

    /// Devices new to this instance, as they come.
    pub fn added(&self) -> tokio::sync::broadcast::Receiver<app::types::Device> {
        self.0.added.subscribe()
    }

    /// The device was heard from at `at` (seconds); written in batches.
    pub fn mark_seen(&self, device_id: i64, at: i64) {
        self.0.last_seen.mark(device_id, at);
    }

    /// Writes the last-seen times gathered since the previous flush.
    pub async fn flush_last_seen(&self) {
        self.0.last_seen.flush(&self.0.db).await;
    }

    /// The device CA's certificate revocation list (DER), issued now from
    /// the database: every revoked device whose certificate the CA signed.
    /// Made on each request, so a revocation through any instance is in
    /// the next list any instance gives.
    pub async fn crl(&self) -> anyhow::Result<Vec<u8>> {
        let revoked = certificates::store::revoked_ca_issued(&self.0.db, db::now()).await?;
        Ok(self.0.ca.crl(&revoked)?)
    }
}

fn entry(row: &certificates::store::CertRow) -> Entry {
    Entry {
        id: row.device_id,
        registration_id: row.registration_id.clone(),
        active: row.active,
        ca_issued: row.kind == Enrollment::CaIssued,
        group: (row.kind == Enrollment::Group)
            .then_some(row.group_id)
            .flatten(),
        serial: row.serial.clone(),
        retire_at: row.retire_at,
        first_use_pending: row.first_used_at.is_none() || row.not_after.is_none(),
    }
}

/// 1–128 characters of letters, digits and `._:-` (Azure DPS-like).
pub fn parse_registration_id(s: &str) -> Result<&str, DeviceError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    ok.then_some(s).ok_or_else(|| {
        DeviceError::Invalid(
            "registration_id must be 1-128 characters of letters, digits and . _ : -".into(),
        )
    })
}

/// 1–128 characters, no control characters.
pub fn parse_name(s: &str) -> Result<&str, DeviceError> {
    let ok = !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
    ok.then_some(s)
        .ok_or_else(|| DeviceError::Invalid("name must be 1-128 printable characters".into()))
}
