//! The platform's key material: the platform CA and the north server
//! certificate (unless the operator brings their own), the device CA, and the
//! JWT signing key. Generated once under `$VIGIL_DATA_DIR/pki/`, reused after;
//! private keys are written 0600.

mod names;

use std::{
    collections::BTreeSet,
    fs,
    io::Write,
    net::IpAddr,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use crate::settings::Settings;

pub struct Pki {
    pub dir: PathBuf,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    pub device_ca_pem: String,
    pub device_ca_key: KeyPair,
    /// PKCS#8 PEM of the Ed25519 JWT signing key.
    pub jwt_key_pem: String,
}

impl Pki {
    pub fn load_or_create(settings: &Settings) -> anyhow::Result<Pki> {
        let dir = settings.data_dir.join("pki");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let names = &settings.tls_names;
        let platform = ca(&dir, "platform-ca", "Vigil platform CA", Some(names))?;
        let (server_chain, server_key) = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => load_chain(cert, key)?,
            _ => server_cert(&dir, platform, names)?,
        };
        let device = ca(&dir, "device-ca", "Vigil device CA", None)?;
        let (device_ca_pem, device_ca_key) = (device.pem, device.key);
        let jwt_key_pem = match &settings.jwt_key {
            Some(path) => fs::read_to_string(path)
                .with_context(|| format!("reading VIGIL_JWT_KEY {}", path.display()))?,
            None => load_or_generate_key(&dir.join("jwt-signing.key"), &rcgen::PKCS_ED25519)?
                .0
                .serialize_pem(),
        };
        Ok(Pki {
            dir,
            server_chain,
            server_key,
            device_ca_pem,
            device_ca_key,
            jwt_key_pem,
        })
    }
}

struct Ca {
    pem: String,
    key: KeyPair,
    /// Made at this start: what it signed before no longer chains to it.
    fresh: bool,
}

/// A CA, made or reused. With `names`, it carries name constraints that
/// permit only those names (so trusting it trusts nothing else), and one
/// made with other constraints, or none, is made anew.
fn ca(dir: &Path, name: &str, common_name: &str, names: Option<&[String]>) -> anyhow::Result<Ca> {
    let (key, new_key) = load_or_generate_key(
        &dir.join(format!("{name}.key")),
        &rcgen::PKCS_ECDSA_P256_SHA256,
    )?;
    let cert_path = dir.join(format!("{name}.pem"));
    let constraints = names.map(name_constraints).transpose()?;
    // A certificate is only reused with the key it was made for, and with
    // the constraints asked for now.
    if cert_path.exists() && !new_key {
        let pem = fs::read_to_string(&cert_path)?;
        let wanted = names.map(canonical_names).unwrap_or_default();
        if names::constrained_to(&pem)? == wanted {
            return Ok(Ca {
                pem,
                key,
                fresh: false,
            });
        }
        tracing::warn!(
            ca = name,
            "the CA's name constraints differ from VIGIL_TLS_NAMES; making a new CA"
        );
    }
    let mut params = CertificateParams::default();
    params.name_constraints = constraints;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Vigil");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(3650);
    let pem = params.self_signed(&key)?.pem();
    write_public(&cert_path, &pem)?;
    Ok(Ca {
        pem,
        key,
        fresh: true,
    })
}

fn server_cert(
    dir: &Path,
    ca: Ca,
    names: &[String],
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let key_path = dir.join("server.key");
    let cert_path = dir.join("server.pem");
    let renew = ca.fresh
        || !cert_path.exists()
        || !key_path.exists()
        || expires_within(&cert_path, RENEW_BEFORE_DAYS)?
        || names::of_server(&fs::read_to_string(&cert_path)?)? != canonical_names(names);
    if renew {
        let (ca_pem, ca_key) = (ca.pem.as_str(), ca.key);
        tracing::info!("generating the server certificate");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or("localhost", String::as_str),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(397);
        let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key)?;
        let cert = params.signed_by(&key, &issuer)?;
        write_secret(&key_path, &key.serialize_pem())?;
        write_public(&cert_path, &format!("{}{}", cert.pem(), ca_pem))?;
    }
    load_chain(&cert_path, &key_path)
}

/// The constraints that permit exactly `names`: DNS names, and IP
/// addresses as single-address subnets.
fn name_constraints(names: &[String]) -> anyhow::Result<NameConstraints> {
    let permitted_subtrees = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => {
                let bits = if ip.is_ipv4() { 32 } else { 128 };
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(ip, bits))
            }
            Err(_) => GeneralSubtree::DnsName(n.clone()),
        })
        .collect();
    Ok(NameConstraints {
        permitted_subtrees,
        excluded_subtrees: Vec::new(),
    })
}

/// Names as `names` compares them: DNS names lowercased, IPs parsed.
fn canonical_names(names: &[String]) -> BTreeSet<String> {
    names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => n.to_lowercase(),
        })
        .collect()
}

/// Generated server certificates are renewed this long before they expire.
const RENEW_BEFORE_DAYS: i64 = 30;

fn expires_within(cert: &Path, days: i64) -> anyhow::Result<bool> {
    let pem = fs::read(cert)?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
    let parsed = pem
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
    let not_after = parsed.validity().not_after.timestamp();
    Ok(not_after - OffsetDateTime::now_utc().unix_timestamp() < days * 86_400)
}

fn load_chain(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    Ok((chain, key))
}

/// The key at `path`, made if missing; `true` when it was just made.
fn load_or_generate_key(
    path: &Path,
    alg: &'static rcgen::SignatureAlgorithm,
) -> anyhow::Result<(KeyPair, bool)> {
    if path.exists() {
        let mode = fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "private key is readable by others; fixing to 0600");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
        let pem = fs::read_to_string(path)?;
        let key =
            KeyPair::from_pem(&pem).with_context(|| format!("parsing key {}", path.display()))?;
        return Ok((key, false));
    }
    let key = KeyPair::generate_for(alg)?;
    write_secret(path, &key.serialize_pem())?;
    Ok((key, true))
}

/// Writes a private key readable by its owner only, never briefly wider.
pub fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn write_public(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
