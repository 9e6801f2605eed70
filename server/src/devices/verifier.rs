//! The south listener's client-certificate verifier. It runs inside the TLS
//! handshake and decides from memory only:
//! - a certificate the device CA issued must chain to it (rustls/webpki:
//!   signature, dates, clientAuth), and its device must be enrolled, active,
//!   with a serial not revoked;
//! - a self-signed certificate must be enrolled by thumbprint and active,
//!   within its dates, and marked for clientAuth.
//! - a certificate registered through an enrollment group must still chain
//!   to that group's CA;
//! - a certificate no device has yet is let in only when its chain ends at
//!   the CA of a verified enrollment group (and it is in date, not a CA,
//!   for clientAuth, its CN a registration id): the request layer then
//!   lets it reach the registration route and nothing else, which refuses
//!   it with the reason when the group is revoked, expired or full.
//!
//! In every case rustls still checks the handshake signature made with the
//! certificate's key (proof of possession).

use std::sync::Arc;

use rustls::{
    client::danger::HandshakeSignatureValid,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, UnixTime},
    server::{
        danger::{ClientCertVerified, ClientCertVerifier},
        WebPkiClientVerifier,
    },
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme,
};

use super::{
    certs::{self, CertProblem},
    groups::{ca, GroupIndex},
    index::DeviceIndex,
};

#[derive(Debug)]
pub struct DeviceVerifier {
    index: Arc<DeviceIndex>,
    groups: Arc<GroupIndex>,
    ca: Arc<dyn ClientCertVerifier>,
    provider: Arc<CryptoProvider>,
}

impl DeviceVerifier {
    pub fn new(
        device_ca: CertificateDer<'static>,
        index: Arc<DeviceIndex>,
        groups: Arc<GroupIndex>,
        provider: Arc<CryptoProvider>,
    ) -> anyhow::Result<DeviceVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(device_ca)?;
        let ca = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()?;
        Ok(DeviceVerifier {
            index,
            groups,
            ca,
            provider,
        })
    }
}

fn refuse(e: CertificateError) -> Error {
    Error::InvalidCertificate(e)
}

fn problem(p: CertProblem) -> CertificateError {
    match p {
        CertProblem::Unreadable => CertificateError::BadEncoding,
        CertProblem::Expired => CertificateError::Expired,
        CertProblem::NotYetValid => CertificateError::NotValidYet,
        CertProblem::NotForClientAuth | CertProblem::IsCa => CertificateError::InvalidPurpose,
    }
}

impl ClientCertVerifier for DeviceVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.root_hint_subjects()
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let thumbprint = certs::thumbprint(end_entity);
        let Some(entry) = self.index.get(&thumbprint) else {
            // Not a device yet: one about to register through a group?
            self.groups
                .matching(end_entity, intermediates, now)
                .ok_or(refuse(CertificateError::UnknownIssuer))?;
            ca::registrant(end_entity, now.as_secs() as i64).map_err(|p| {
                refuse(match p {
                    ca::NotARegistrant::Problem(p) => problem(p),
                    ca::NotARegistrant::Unreadable => CertificateError::BadEncoding,
                    ca::NotARegistrant::BadName => CertificateError::ApplicationVerificationFailure,
                })
            })?;
            return Ok(ClientCertVerified::assertion());
        };
        if !entry.usable_at(now.as_secs() as i64) {
            return Err(refuse(CertificateError::Revoked));
        }
        if let Some(group) = entry.group {
            self.groups
                .chains_to(group, end_entity, intermediates, now)?;
        } else if entry.ca_issued {
            self.ca.verify_client_cert(end_entity, intermediates, now)?;
            let serial =
                certs::serial_hex(end_entity).ok_or(refuse(CertificateError::BadEncoding))?;
            if self.index.serial_revoked(&serial) {
                return Err(refuse(CertificateError::Revoked));
            }
        } else {
            certs::check_client_cert(end_entity, now.as_secs() as i64)
                .map_err(|p| refuse(problem(p)))?;
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
