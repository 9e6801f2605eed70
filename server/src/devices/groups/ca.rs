//! The certificates of enrollment groups: the group's CA as uploaded, the
//! proof that its key is held, and what a registering device's own
//! certificate must be.

use x509_parser::{
    certificate::X509Certificate, extensions::ParsedExtension, pem::Pem, prelude::FromDer,
};

use super::super::{certs, DeviceError};

/// A CA certificate is a kilobyte or two; this bounds the parsing work.
pub const MAX_PEM: usize = 16 * 1024;

/// A group's CA, checked.
pub struct GroupCa {
    pub der: Vec<u8>,
    pub sha256: String,
    pub subject: String,
    pub not_after: i64,
}

fn invalid(field: &str, why: &str) -> DeviceError {
    DeviceError::Invalid(format!("{field}: {why}"))
}

/// The one certificate of a PEM text (`field` names it in errors).
fn one_certificate(pem: &str, field: &str) -> Result<Vec<u8>, DeviceError> {
    if pem.len() > MAX_PEM {
        return Err(invalid(field, "too large"));
    }
    if !pem.is_ascii() {
        return Err(invalid(field, "PEM is ASCII text (RFC 7468)"));
    }
    let mut blocks = Pem::iter_from_buffer(pem.as_bytes());
    let first = match blocks.next() {
        Some(Ok(p)) => p,
        _ => return Err(invalid(field, "not a PEM certificate")),
    };
    if first.label != "CERTIFICATE" {
        return Err(invalid(field, "expected a CERTIFICATE PEM block"));
    }
    if blocks.next().is_some() {
        return Err(invalid(field, "give exactly one certificate"));
    }
    Ok(first.contents)
}

/// Checks an uploaded group CA: one certificate, a CA (basicConstraints
/// CA:TRUE, keyCertSign when key usage is given), in its validity period.
/// It may be a root or an intermediate: device chains end at it either way.
pub fn parse_ca(pem: &str, now: i64) -> Result<GroupCa, DeviceError> {
    let der = one_certificate(pem, "ca_pem")?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|_| invalid("ca_pem", "does not parse"))?;
    if !cert.is_ca() {
        return Err(invalid(
            "ca_pem",
            "not a CA certificate (basicConstraints CA:TRUE is needed)",
        ));
    }
    if let Ok(Some(ku)) = cert.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err(invalid(
                "ca_pem",
                "its key usage does not allow signing certificates",
            ));
        }
    }
    let validity = cert.validity();
    if now < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
        return Err(invalid("ca_pem", "outside its validity period"));
    }
    // What the handshake will build its trust anchor from must take it.
    rustls::RootCertStore::empty()
        .add(rustls::pki_types::CertificateDer::from(der.clone()))
        .map_err(|_| invalid("ca_pem", "cannot serve as a trust anchor"))?;
    Ok(GroupCa {
        sha256: certs::thumbprint(&der),
        subject: cert.subject().to_string(),
        not_after: validity.not_after.timestamp(),
        der,
    })
}

/// Proof that the group's creator holds its CA's key: `cert_pem` is a
/// certificate whose subject CN is `code`, signed by that CA's key (the
/// signature is checked, never just the issuer's name), in its dates.
pub fn check_proof(ca_der: &[u8], cert_pem: &str, code: &str, now: i64) -> Result<(), DeviceError> {
    let der = one_certificate(cert_pem, "certificate_pem")?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|_| invalid("certificate_pem", "does not parse"))?;
    let (_, ca) = X509Certificate::from_der(ca_der)
        .map_err(|_| DeviceError::Internal(anyhow::anyhow!("a stored group CA does not parse")))?;
    if common_names(&cert) != [code] {
        return Err(invalid(
            "certificate_pem",
            "its subject CN must be the group's verification code",
        ));
    }
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|_| invalid("certificate_pem", "not signed by the group's CA"))?;
    let validity = cert.validity();
    if now < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
        return Err(invalid("certificate_pem", "outside its validity period"));
    }
    Ok(())
}

fn common_names<'a>(cert: &'a X509Certificate<'_>) -> Vec<&'a str> {
    cert.subject()
        .iter_common_name()
        .map(|cn| cn.as_str().unwrap_or("\u{0}"))
        .collect()
}

/// The registration id a device names in its certificate: its one subject
/// CN, 1–128 of `a-z 0-9 - . _ :`.
pub fn registration_id(cert: &X509Certificate<'_>) -> Option<String> {
    let [cn] = common_names(cert)[..] else {
        return None;
    };
    let ok = !cn.is_empty()
        && cn.len() <= 128
        && cn
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._:".contains(c));
    ok.then(|| cn.to_owned())
}

/// What a registering device's certificate says of itself, once its chain
/// is verified.
#[derive(Debug, Clone)]
pub struct Registrant {
    pub registration_id: String,
    pub serial: String,
    pub not_after: i64,
}

/// Why a device certificate cannot register, apart from its chain.
#[derive(Debug, PartialEq, Eq)]
pub enum NotARegistrant {
    Unreadable,
    /// Dates, CA flag or clientAuth (as for a self-signed certificate).
    Problem(certs::CertProblem),
    BadName,
}

/// The checks of a registering certificate besides its chain: in its
/// dates, not a CA, marked for clientAuth, its CN a registration id.
pub fn registrant(der: &[u8], now: i64) -> Result<Registrant, NotARegistrant> {
    certs::check_client_cert(der, now).map_err(NotARegistrant::Problem)?;
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| NotARegistrant::Unreadable)?;
    // A CA flag anywhere in its extensions (check_client_cert reads the
    // basic constraints; be plain about it).
    if cert
        .extensions()
        .iter()
        .any(|e| matches!(e.parsed_extension(), ParsedExtension::BasicConstraints(bc) if bc.ca))
    {
        return Err(NotARegistrant::Problem(certs::CertProblem::IsCa));
    }
    Ok(Registrant {
        registration_id: registration_id(&cert).ok_or(NotARegistrant::BadName)?,
        serial: hex::encode(cert.raw_serial()),
        not_after: cert.validity().not_after.timestamp(),
    })
}
