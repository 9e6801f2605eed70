//! The device command line: what a device does, for people and tests.
//! Secrets (the operator token) come from the environment, never arguments.

mod bench;
mod client;
mod listen;
mod mqtt;
mod simulate;
mod token_cache;

use std::{io::BufRead, path::PathBuf};

use anyhow::{bail, Context};
use app::types::{EnrollRequest, EnrollResponse, ReadingIn, ReadingsBatch};
use clap::{Parser, Subcommand};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls_pki_types::pem::PemObject;

pub use client::{Endpoints, Refused};

#[derive(Debug, Parser)]
#[command(
    name = "vigil-device",
    version,
    about = "A Vigil device: enroll or register, renew, token, send, listen, simulate"
)]
pub struct Cli {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a key and a certificate (self-signed, or signed by the platform
    /// from a CSR) and enroll the device. Needs an operator's token in
    /// VIGIL_TOKEN.
    Enroll {
        #[arg(long)]
        registration_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Ask the platform's device CA to sign a CSR instead of self-signing.
        #[arg(long)]
        csr: bool,
        /// Where device.pem and device.key (0600) are written.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Zero-touch registration through an enrollment group (the factory
    /// flow, no operator token): make a device key and a certificate signed
    /// by the group's CA with the registration id as its CN, then register
    /// over mutual TLS. Writes device.pem and device.key (0600) in --out.
    Register {
        /// The group's CA certificate (PEM).
        #[arg(long)]
        ca_cert: PathBuf,
        /// The group's CA key (PEM); read, never sent.
        #[arg(long)]
        ca_key: PathBuf,
        #[arg(long)]
        registration_id: String,
        /// Days the device certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Renew the device's certificate: a new key and CSR, the certificate
    /// the platform signs, then a first use of it. Only once that works do
    /// device.pem and device.key become the new ones (the old are kept as
    /// device.pem.old and device.key.old); until then the old ones stay.
    Renew {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Print a device token (JSON) obtained over mutual TLS.
    Token {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Send readings given as `sensor=value[unit]` arguments, or read lines
    /// of `sensor value [unit]` from stdin when none are given. The device
    /// token is kept in `device.token` (0600) beside the key and reused
    /// until shortly before it expires.
    Send {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Over MQTT (QoS 1, acknowledged after the commit) instead of HTTPS.
        #[arg(long)]
        mqtt: bool,
        readings: Vec<String>,
    },
    /// Wait for the device's commands and answer each, printing a line per
    /// command. With --exec, PROGRAM runs with the command's JSON on stdin:
    /// exit 0 answers `succeeded` with its output (JSON, or text), anything
    /// else `failed` with its exit code and stderr. Without it, the answer
    /// is `succeeded` with {"echo": payload}.
    Listen {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Subscribe over MQTT instead of long-polling over HTTPS.
        #[arg(long)]
        mqtt: bool,
        #[arg(long, value_name = "PROGRAM")]
        exec: Option<PathBuf>,
    },
    /// Enroll N devices (needs VIGIL_TOKEN) and have each send batches at a
    /// rate, printing progress and a latency summary.
    Simulate(simulate::Options),
    /// Benchmark: enroll N devices (needs VIGIL_TOKEN) and hold one silent
    /// MQTT session for each.
    #[command(hide = true)]
    MqttIdle {
        #[arg(long, default_value_t = 1000)]
        devices: usize,
        /// Seconds to hold them once all are open.
        #[arg(long, default_value_t = 60)]
        hold: u64,
    },
    /// Benchmark: enroll N devices, connect each over MQTT, revoke their
    /// tokens one at a time and report how long each session took to end.
    #[command(hide = true)]
    RevocationBench {
        #[arg(long, default_value_t = 100)]
        devices: usize,
    },
    /// Benchmark: two instances on one database; logs a user in and out
    /// here N times and reports how long the other took to refuse each
    /// token.
    #[command(hide = true)]
    SpreadBench {
        /// The other instance's north URL.
        #[arg(long)]
        other: String,
        #[arg(long, default_value_t = 200)]
        logouts: usize,
    },
    /// Benchmark: N devices with certificates signed by a group's CA
    /// (made beforehand) register at once, CONCURRENCY at a time.
    #[command(hide = true)]
    RegisterBench {
        #[arg(long)]
        ca_cert: PathBuf,
        #[arg(long)]
        ca_key: PathBuf,
        #[arg(long, default_value_t = 2000)]
        devices: usize,
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
    },
    /// Benchmark: follow the live stream (of VIGIL_NORTH_URL, with the
    /// token in VIGIL_TOKEN) for a time and report how long after its `ts`
    /// (its arrival, for readings sent without one) each reading came.
    #[command(hide = true)]
    LiveLatency {
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ep = cli.endpoints;
    match cli.command {
        Command::Enroll {
            registration_id,
            name,
            csr,
            out,
        } => {
            let token = operator_token()?;
            let (cert_pem, key_pem, res) =
                enroll(&ep, &token, &registration_id, name.as_deref(), csr).await?;
            std::fs::create_dir_all(&out)?;
            crate::pki::write_secret(&out.join("device.key"), &key_pem)?;
            std::fs::write(
                out.join("device.pem"),
                res.certificate_pem.as_deref().unwrap_or(&cert_pem),
            )?;
            println!("{}", serde_json::to_string_pretty(&res.device)?);
        }
        Command::Register {
            ca_cert,
            ca_key,
            registration_id,
            days,
            out,
        } => {
            let (cert_pem, key_pem) = group_certificate(&ca_cert, &ca_key, &registration_id, days)?;
            let device = ep.device_client_from_pem(&cert_pem, &key_pem, false)?;
            let (registered, created) = device.register().await?;
            std::fs::create_dir_all(&out)?;
            crate::pki::write_secret(&out.join("device.key"), &key_pem)?;
            std::fs::write(out.join("device.pem"), &cert_pem)?;
            eprintln!(
                "{}",
                if created {
                    "registered"
                } else {
                    "registered before: same device"
                }
            );
            println!("{}", serde_json::to_string_pretty(&registered)?);
        }
        Command::Renew { dir } => renew(&ep, &dir).await?,
        Command::Token { dir } => {
            let device = ep.device_client(&dir)?;
            println!("{}", serde_json::to_string_pretty(&device.token().await?)?);
        }
        Command::Send {
            dir,
            mqtt,
            readings,
        } => {
            let readings = if readings.is_empty() {
                from_stdin()?
            } else {
                parse_args(&readings)?
            };
            let batch = ReadingsBatch { readings };
            let n = if mqtt {
                mqtt::send(&ep, &dir, &batch).await?
            } else {
                let device = ep.device_client(&dir)?;
                token_cache::send(&device, &dir, &batch).await?
            };
            println!("{n} readings stored");
        }
        Command::Listen { dir, mqtt, exec } => {
            let handler = match exec {
                Some(p) => listen::Handler::Exec(p),
                None => listen::Handler::Echo,
            };
            if mqtt {
                mqtt::listen(&ep, &dir, &handler).await?;
            } else {
                let device = ep.device_client(&dir)?;
                listen::run(&device, &dir, &handler).await?;
            }
        }
        Command::MqttIdle { devices, hold } => {
            bench::hold_idle(&ep, &operator_token()?, devices, hold).await?
        }
        Command::SpreadBench { other, logouts } => {
            bench::spread_bench(&ep, &operator_token()?, &other, logouts).await?
        }
        Command::LiveLatency { seconds } => {
            bench::live_latency(&ep, &operator_token()?, seconds).await?
        }
        Command::RegisterBench {
            ca_cert,
            ca_key,
            devices,
            concurrency,
        } => bench::register_bench(&ep, &ca_cert, &ca_key, devices, concurrency.max(1)).await?,
        Command::RevocationBench { devices } => {
            bench::revocation_bench(&ep, &operator_token()?, devices).await?
        }
        Command::Simulate(opts) => simulate::run(&ep, &operator_token()?, opts).await?,
    }
    Ok(())
}

fn operator_token() -> anyhow::Result<String> {
    std::env::var("VIGIL_TOKEN")
        .context("set VIGIL_TOKEN to an operator's or admin's token (from POST /api/v1/auth/login)")
}

/// Makes the device's key and certificate (or CSR) and enrolls it.
pub async fn enroll(
    ep: &Endpoints,
    token: &str,
    registration_id: &str,
    name: Option<&str>,
    csr: bool,
) -> anyhow::Result<(String, String, EnrollResponse)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, registration_id);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let mut req = EnrollRequest {
        registration_id: registration_id.into(),
        name: name.unwrap_or(registration_id).into(),
        ..Default::default()
    };
    let cert_pem = if csr {
        req.csr_pem = Some(params.serialize_request(&key)?.pem()?);
        String::new()
    } else {
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(365);
        let cert = params.self_signed(&key)?;
        req.cert_sha256 = Some(crate::devices::certs::thumbprint(cert.der()));
        cert.pem()
    };
    let res = ep.north_client()?.enroll(token, &req).await?;
    Ok((cert_pem, key.serialize_pem(), res))
}

/// `renew`: see the command's help.
async fn renew(ep: &Endpoints, dir: &std::path::Path) -> anyhow::Result<()> {
    let current = ep.device_client(dir)?;
    let token = current.token().await?.token;
    let key = KeyPair::generate()?;
    let csr = CertificateParams::default()
        .serialize_request(&key)?
        .pem()?;
    let cert_pem = current.renew(&token, &csr).await?;
    let (new_pem, new_key) = (dir.join("device.pem.new"), dir.join("device.key.new"));
    crate::pki::write_secret(&new_key, &key.serialize_pem())?;
    std::fs::write(&new_pem, &cert_pem)?;
    // The first use of the new certificate retires the old one: only then
    // are the files swapped.
    let renewed = ep.device_client_from_pem(&cert_pem, &key.serialize_pem(), false)?;
    renewed
        .token()
        .await
        .context("the renewed certificate does not work yet; the old one is kept")?;
    for name in ["device.pem", "device.key"] {
        std::fs::rename(dir.join(name), dir.join(format!("{name}.old")))?;
    }
    std::fs::rename(&new_pem, dir.join("device.pem"))?;
    std::fs::rename(&new_key, dir.join("device.key"))?;
    // A cached token is bound to the old certificate.
    let _ = std::fs::remove_file(dir.join("device.token"));
    println!(
        "renewed: {}",
        crate::devices::certs::thumbprint(
            &rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
                .context("reading the new certificate")?
        )
    );
    Ok(())
}

/// A new device key and its certificate signed by a group's CA: CN the
/// registration id, for clientAuth.
pub fn group_certificate(
    ca_cert: &std::path::Path,
    ca_key: &std::path::Path,
    registration_id: &str,
    days: u32,
) -> anyhow::Result<(String, String)> {
    let ca_pem = std::fs::read_to_string(ca_cert)
        .with_context(|| format!("reading {}", ca_cert.display()))?;
    let ca_key = KeyPair::from_pem(
        &std::fs::read_to_string(ca_key)
            .with_context(|| format!("reading {}", ca_key.display()))?,
    )
    .context("parsing the CA key")?;
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("parsing the CA certificate")?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, registration_id);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(days));
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn parse_args(args: &[String]) -> anyhow::Result<Vec<ReadingIn>> {
    args.iter()
        .map(|a| {
            let Some((sensor, rest)) = a.split_once('=') else {
                bail!("`{a}`: expected sensor=value[unit]")
            };
            let split = rest
                .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
                .unwrap_or(rest.len());
            let (num, unit) = rest.split_at(split);
            let value = num
                .parse()
                .with_context(|| format!("`{a}`: `{num}` is not a number"))?;
            let unit = (!unit.is_empty()).then(|| unit.to_owned());
            Ok(ReadingIn {
                sensor: sensor.into(),
                value,
                unit,
                ts: None,
            })
        })
        .collect()
}

fn from_stdin() -> anyhow::Result<Vec<ReadingIn>> {
    let mut out = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(sensor), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let value = value
            .parse()
            .with_context(|| format!("`{line}`: not `sensor value [unit]`"))?;
        out.push(ReadingIn {
            sensor: sensor.into(),
            value,
            unit: parts.next().map(str::to_owned),
            ts: None,
        });
    }
    if out.is_empty() {
        bail!("no readings given (arguments sensor=value[unit], or lines `sensor value [unit]` on stdin)");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_become_readings_with_units() {
        let r = parse_args(&[
            "temperature=21.5C".into(),
            "count=-3".into(),
            "p=1e3hPa".into(),
        ])
        .unwrap();
        assert_eq!((r[0].value, r[0].unit.as_deref()), (21.5, Some("C")));
        assert_eq!((r[1].value, r[1].unit.as_deref()), (-3.0, None));
        assert_eq!((r[2].value, r[2].unit.as_deref()), (1000.0, Some("hPa")));
        assert!(parse_args(&["novalue".into()]).is_err());
        assert!(parse_args(&["x=abc".into()]).is_err());
    }
}
