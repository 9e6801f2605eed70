//! Enrollment groups in memory, for the TLS handshake: each group's CA as a
//! trust anchor of its own, with the group's status and deadline.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use app::types::GroupStatus;
use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, UnixTime},
    server::{danger::ClientCertVerifier, WebPkiClientVerifier},
    RootCertStore,
};

use super::store::GroupRow;

struct Group {
    status: GroupStatus,
    expires_at: Option<i64>,
    /// Verifies a chain up to this group's CA and no other (rustls and
    /// webpki: signatures, dates, clientAuth, name constraints).
    chain: Arc<dyn ClientCertVerifier>,
}

pub struct GroupIndex {
    provider: Arc<CryptoProvider>,
    groups: RwLock<HashMap<i64, Arc<Group>>>,
}

impl std::fmt::Debug for GroupIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupIndex")
    }
}

impl GroupIndex {
    pub fn new(provider: Arc<CryptoProvider>) -> GroupIndex {
        GroupIndex {
            provider,
            groups: RwLock::default(),
        }
    }

    /// Adds or replaces a group, from its row.
    pub fn put(&self, row: &GroupRow) {
        let chain = (|| -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
            let mut roots = RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(row.ca_pem.as_bytes())?)?;
            Ok(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()?,
            )
        })();
        match chain {
            Ok(chain) => {
                let group = Arc::new(Group {
                    status: row.group.status,
                    expires_at: row.expires_at,
                    chain,
                });
                self.groups
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(row.group.id, group);
            }
            Err(e) => {
                tracing::warn!(group = row.group.id, error = %e, "enrollment group CA unusable; its devices are refused")
            }
        }
    }

    fn get(&self, id: i64) -> Option<Arc<Group>> {
        self.groups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Whether the chain ends at group `id`'s CA, whatever the group's
    /// status (a revoked group's devices stay, unless revoked with it).
    pub fn chains_to(
        &self,
        id: i64,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let group = self.get(id).ok_or(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))?;
        group
            .chain
            .verify_client_cert(end_entity, intermediates, now)
            .map(|_| ())
    }

    /// The group a registering certificate belongs to: one whose CA its
    /// chain ends at, and which was verified (active, or since revoked or
    /// expired, so that the registration can say why it is refused). When
    /// several CAs match (a root and an intermediate under it in two
    /// groups), a group open for registration wins, then the oldest: the
    /// choice never depends on the order of a map.
    pub fn matching(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<i64> {
        let now_s = now.as_secs() as i64;
        let mut candidates: Vec<(i64, Arc<Group>)> = self
            .groups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, g)| g.status != GroupStatus::Unverified)
            .map(|(id, g)| (*id, g.clone()))
            .collect();
        let open =
            |g: &Group| g.status == GroupStatus::Active && g.expires_at.is_none_or(|t| t > now_s);
        candidates.sort_by_key(|(id, g)| (!open(g), *id));
        candidates
            .into_iter()
            .find(|(_, g)| {
                g.chain
                    .verify_client_cert(end_entity, intermediates, now)
                    .is_ok()
            })
            .map(|(id, _)| id)
    }
}
