//! Device certificates: thumbprints, signing a CSR with the device CA, and
//! the checks of a self-signed certificate.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use rand::RngCore;
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, Issuer,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use x509_parser::{
    certificate::X509Certificate, certification_request::X509CertificationRequest,
    pem::parse_x509_pem, prelude::FromDer,
};

/// Why a certificate, thumbprint or CSR was refused.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{0}")]
    Invalid(String),
    #[error("signing a certificate: {0}")]
    Signing(#[from] rcgen::Error),
}

/// Hex SHA-256 of a certificate's DER: how the registry names it.
pub fn thumbprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// RFC 8705 `x5t#S256`: base64url SHA-256 of the DER.
pub fn x5t_s256(der: &[u8]) -> String {
    B64.encode(Sha256::digest(der))
}

/// Accepts `AB:CD:…` or plain hex, any case; answers lowercase hex.
pub fn parse_thumbprint(s: &str) -> Result<String, CertError> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(CertError::Invalid(
            "cert_sha256 must be the 64-hex-digit SHA-256 of the certificate's DER".into(),
        ))
    }
}

/// The platform's device CA, ready to sign.
pub struct DeviceCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
}

impl DeviceCa {
    pub fn new(cert_pem: String, key: KeyPair) -> anyhow::Result<DeviceCa> {
        Ok(DeviceCa {
            issuer: Issuer::from_ca_cert_pem(&cert_pem, key)?,
            cert_pem,
        })
    }

    /// Checks the CSR's own signature (proof that the requester holds the
    /// key), then issues a client certificate whose subject is the
    /// registration id, whatever the CSR asked for.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        registration_id: &str,
        days: u32,
    ) -> Result<Issued, CertError> {
        let bad = |what: &str| CertError::Invalid(format!("csr_pem: {what}"));
        let (_, pem) = parse_x509_pem(csr_pem.as_bytes()).map_err(|_| bad("not a PEM block"))?;
        if pem.label != "CERTIFICATE REQUEST" {
            return Err(bad("expected a CERTIFICATE REQUEST PEM block"));
        }
        let (_, csr) = X509CertificationRequest::from_der(&pem.contents)
            .map_err(|_| bad("not a PKCS#10 request"))?;
        csr.verify_signature()
            .map_err(|_| bad("its signature does not verify"))?;
        acceptable_key(&csr).map_err(|why| bad(&why))?;
        if asks_to_be_a_ca(&csr) {
            return Err(bad(
                "a device certificate cannot be a CA (basicConstraints CA:TRUE)",
            ));
        }
        let mut csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| bad(&e.to_string()))?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, registration_id);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(i64::from(days));
        let params_not_after = params.not_after;
        let mut serial = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut serial);
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        csr.params = params;
        let cert = csr.signed_by(&self.issuer)?;
        // The serial as the certificate carries it (DER drops leading zero
        // bytes), which is what the handshake will read back.
        let serial = serial_hex(cert.der())
            .ok_or_else(|| CertError::Invalid("the issued certificate does not parse".into()))?;
        Ok(Issued {
            pem: cert.pem(),
            thumbprint: thumbprint(cert.der()),
            serial,
            not_after: params_not_after.unix_timestamp(),
        })
    }
}

pub struct Issued {
    pub pem: String,
    pub thumbprint: String,
    pub serial: String,
    /// notAfter, in seconds.
    pub not_after: i64,
}

/// How long a CRL is valid: clients fetch a new one before then.
const CRL_VALID: Duration = Duration::hours(24);

impl DeviceCa {
    /// The CA's certificate revocation list (DER): each `(serial hex,
    /// revoked at)` of a certificate it issued. Its number is the time of
    /// issue in milliseconds, so a later list always has a larger one (on
    /// any instance, their clocks agreeing).
    pub fn crl(&self, revoked: &[(String, i64)]) -> Result<Vec<u8>, CertError> {
        use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams};
        let now = OffsetDateTime::now_utc();
        let number = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
        let revoked_certs = revoked
            .iter()
            .filter_map(|(serial, at)| {
                Some(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&hex::decode(serial).ok()?),
                    revocation_time: OffsetDateTime::from_unix_timestamp(*at).ok()?,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(1),
            next_update: now + CRL_VALID,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.der().to_vec())
    }
}

/// Serial of a certificate, as hex.
pub fn serial_hex(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(hex::encode(cert.raw_serial()))
}

/// The key types a device certificate may have: P-256, P-384, Ed25519, or
/// RSA of at least 2048 bits.
fn acceptable_key(csr: &X509CertificationRequest<'_>) -> Result<(), String> {
    use x509_parser::{oid_registry as oid, public_key::PublicKey};
    let spki = &csr.certification_request_info.subject_pki;
    let alg = &spki.algorithm.algorithm;
    if *alg == oid::OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        if curve == Some(oid::OID_EC_P256) || curve == Some(oid::OID_NIST_EC_P384) {
            return Ok(());
        }
        return Err("its EC key must be on P-256 or P-384".into());
    }
    if *alg == oid::OID_SIG_ED25519 {
        return Ok(());
    }
    if *alg == oid::OID_PKCS1_RSAENCRYPTION {
        let Ok(PublicKey::RSA(key)) = spki.parsed() else {
            return Err("its RSA key does not parse".into());
        };
        let modulus: &[u8] = {
            let m = key.modulus;
            let skip = m.iter().take_while(|b| **b == 0).count();
            &m[skip..]
        };
        let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
        if bits >= 2048 {
            return Ok(());
        }
        return Err(format!(
            "its RSA key has {bits} bits; at least 2048 are needed"
        ));
    }
    Err("its key must be P-256, P-384, Ed25519 or RSA of at least 2048 bits".into())
}

/// Whether the CSR asks for basicConstraints CA:TRUE.
fn asks_to_be_a_ca(csr: &X509CertificationRequest<'_>) -> bool {
    use x509_parser::extensions::ParsedExtension;
    csr.requested_extensions().is_some_and(|mut exts| {
        exts.any(|e| matches!(e, ParsedExtension::BasicConstraints(bc) if bc.ca))
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum CertProblem {
    Unreadable,
    Expired,
    NotYetValid,
    NotForClientAuth,
    IsCa,
}

/// What rustls' chain verification would check on a CA-issued certificate,
/// for a self-signed one pinned by its thumbprint: validity dates and the
/// clientAuth extended key usage.
pub fn check_client_cert(der: &[u8], now_unix: i64) -> Result<(), CertProblem> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| CertProblem::Unreadable)?;
    let validity = cert.validity();
    if now_unix < validity.not_before.timestamp() {
        return Err(CertProblem::NotYetValid);
    }
    if now_unix > validity.not_after.timestamp() {
        return Err(CertProblem::Expired);
    }
    if cert.is_ca() {
        return Err(CertProblem::IsCa);
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) if eku.value.client_auth || eku.value.any => Ok(()),
        _ => Err(CertProblem::NotForClientAuth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse_in_the_usual_spellings() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_thumbprint(&hex.to_uppercase()).unwrap(), hex);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_thumbprint(&colons).unwrap(), hex);
        assert!(parse_thumbprint("abc").is_err());
        assert!(parse_thumbprint(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn a_csr_is_signed_with_the_registration_id_as_subject() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "test CA");
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let ca = DeviceCa::new(ca_pem, ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut req = CertificateParams::new(vec!["evil.example".into()]).unwrap();
        req.distinguished_name.push(DnType::CommonName, "admin");
        let csr = req.serialize_request(&key).unwrap().pem().unwrap();
        let issued = ca.sign_csr(&csr, "sensor-1", 30).unwrap();
        let (_, pem) = parse_x509_pem(issued.pem.as_bytes()).unwrap();
        let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
        assert_eq!(cert.subject().to_string(), "CN=sensor-1");
        assert!(cert.subject_alternative_name().unwrap().is_none());
        assert_eq!(
            check_client_cert(&pem.contents, OffsetDateTime::now_utc().unix_timestamp()),
            Ok(())
        );
        assert_eq!(issued.thumbprint, thumbprint(&pem.contents));
    }

    #[test]
    fn the_recorded_serial_is_the_certificates_own_even_with_a_leading_zero() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = DeviceCa::new(ca.self_signed(&ca_key).unwrap().pem(), ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        // About one serial in 128 starts with a zero byte, which DER drops:
        // a thousand make missing that case most unlikely.
        for _ in 0..1000 {
            let issued = ca.sign_csr(&csr, "d", 1).unwrap();
            let (_, pem) = parse_x509_pem(issued.pem.as_bytes()).unwrap();
            let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
            assert_eq!(issued.serial, hex::encode(cert.raw_serial()));
        }
    }

    #[test]
    fn a_csr_with_a_broken_signature_is_refused() {
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap();
        let mut der = csr.der().to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = DeviceCa::new(ca.self_signed(&ca_key).unwrap().pem(), ca_key).unwrap();
        assert!(matches!(
            ca.sign_csr(&pem, "x", 1),
            Err(CertError::Invalid(_))
        ));
    }
}
