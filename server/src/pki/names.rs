//! Reading back the names a generated certificate was made for: the
//! platform CA's permitted name constraints, the server certificate's
//! subject alternative names. Both compare with `canonical_names`.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use anyhow::Context;
use x509_parser::{extensions::GeneralName, pem::parse_x509_pem};

fn parse(pem: &str) -> anyhow::Result<Vec<u8>> {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).context("reading a certificate PEM")?;
    Ok(pem.contents)
}

fn name(n: &GeneralName<'_>) -> Option<String> {
    match n {
        GeneralName::DNSName(d) => Some(d.to_lowercase()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            // Constraints: address then mask; SANs: the address alone.
            4 | 8 => Some(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
            16 | 32 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&bytes[..16]);
                Some(IpAddr::V6(Ipv6Addr::from(a)).to_string())
            }
            _ => None,
        },
        _ => None,
    }
}

/// The names a CA's name constraints permit (empty when it has none).
pub fn constrained_to(pem: &str) -> anyhow::Result<BTreeSet<String>> {
    let der = parse(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).context("parsing a CA")?;
    let constraints = cert.name_constraints().ok().flatten();
    Ok(constraints
        .and_then(|c| c.value.permitted_subtrees.as_ref())
        .map(|subtrees| subtrees.iter().filter_map(|s| name(&s.base)).collect())
        .unwrap_or_default())
}

/// The subject alternative names of a certificate.
pub fn of_server(pem: &str) -> anyhow::Result<BTreeSet<String>> {
    let der = parse(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).context("parsing a certificate")?;
    let san = cert.subject_alternative_name().ok().flatten();
    Ok(san
        .map(|s| s.value.general_names.iter().filter_map(name).collect())
        .unwrap_or_default())
}
