//! Devices: enrollment (a self-signed certificate's thumbprint, or a CSR the
//! device CA signs), registration through an enrollment group, the registry
//! and its in-memory index, the south listener's certificate verifier and
//! request layer, device tokens, and revocation — which ends the device's
//! open connections.

pub mod certs;
mod gateway;
pub mod groups;
pub mod index;
mod last_seen;
mod routes;
mod south;
pub mod store;
pub mod verifier;
mod watch;

use std::sync::Arc;

use app::types::{DeviceStatus, Enrollment};

pub use gateway::DeviceLayer;
pub use routes::router;
pub use south::router as south_router;
pub use watch::RevocationWatch;

use crate::db::Db;
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
    tokens_per_hour: u32,
    last_seen: LastSeen,
}

impl Devices {
    /// Loads every enrolled device and every enrollment group into the
    /// indexes.
    pub async fn load(
        db: Db,
        ca: DeviceCa,
        provider: Arc<rustls::crypto::CryptoProvider>,
        cert_days: u32,
        tokens_per_hour: u32,
    ) -> sqlx::Result<Devices> {
        let index = Arc::new(DeviceIndex::default());
        for row in store::all(&db).await? {
            index.insert(row.device.cert_sha256.clone(), entry(&row));
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
            cert_days,
            tokens_per_hour,
            last_seen: LastSeen::default(),
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

    /// Reads one device again into the index, after a change another
    /// instance made (enrolled, revoked); a revocation also tells its open
    /// connections here.
    pub async fn reload(&self, id: i64) -> sqlx::Result<()> {
        let Some(row) = store::get(&self.0.db, id).await? else {
            return Ok(());
        };
        let e = entry(&row);
        let active = e.active;
        self.0.index.insert(row.device.cert_sha256.clone(), e);
        if !active {
            self.0.index.revoke(id);
        }
        Ok(())
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
        let revoked = store::revoked_ca_issued(&self.0.db).await?;
        Ok(self.0.ca.crl(&revoked)?)
    }
}

fn entry(row: &store::DeviceRow) -> Entry {
    Entry {
        id: row.device.id,
        registration_id: row.device.registration_id.clone(),
        active: row.device.status == DeviceStatus::Active,
        ca_issued: row.device.enrollment == Enrollment::CaIssued,
        group: row.device.group_id,
        serial: row.serial.clone(),
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
