//! The south listener's client-certificate verifier. It runs inside the TLS
//! handshake and decides from memory only:
//! - a certificate the device CA issued must chain to it (rustls/webpki:
//!   signature, dates, clientAuth), and its device must be enrolled, active,
//!   with a serial not revoked;
//! - a self-signed certificate must be enrolled by thumbprint and active,
//!   within its dates, and marked for clientAuth.
//! In both cases rustls still checks the handshake signature made with the
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
    index::DeviceIndex,
};

#[derive(Debug)]
pub struct DeviceVerifier {
    index: Arc<DeviceIndex>,
    ca: Arc<dyn ClientCertVerifier>,
    provider: Arc<CryptoProvider>,
}

impl DeviceVerifier {
    pub fn new(
        device_ca: CertificateDer<'static>,
        index: Arc<DeviceIndex>,
        provider: Arc<CryptoProvider>,
    ) -> anyhow::Result<DeviceVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(device_ca)?;
        let ca = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()?;
        Ok(DeviceVerifier {
            index,
            ca,
            provider,
        })
    }
}

fn refuse(e: CertificateError) -> Error {
    Error::InvalidCertificate(e)
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
        let entry = self
            .index
            .get(&thumbprint)
            .ok_or(refuse(CertificateError::UnknownIssuer))?;
        if !entry.active {
            return Err(refuse(CertificateError::Revoked));
        }
        if entry.ca_issued {
            self.ca.verify_client_cert(end_entity, intermediates, now)?;
            let serial =
                certs::serial_hex(end_entity).ok_or(refuse(CertificateError::BadEncoding))?;
            if self.index.serial_revoked(&serial) {
                return Err(refuse(CertificateError::Revoked));
            }
        } else {
            certs::check_client_cert(end_entity, now.as_secs() as i64).map_err(|p| {
                refuse(match p {
                    CertProblem::Unreadable => CertificateError::BadEncoding,
                    CertProblem::Expired => CertificateError::Expired,
                    CertProblem::NotYetValid => CertificateError::NotValidYet,
                    CertProblem::NotForClientAuth | CertProblem::IsCa => {
                        CertificateError::InvalidPurpose
                    }
                })
            })?;
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
