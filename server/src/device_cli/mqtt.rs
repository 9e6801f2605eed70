//! The device side of MQTT (`--mqtt`): a 5.0 client (rumqttc) over mutual
//! TLS with the device's certificate, the registration id (the
//! certificate's CN) as username and a device token as password.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{bail, Context};
use app::types::{CommandResult, DeviceCommand, ReadingsBatch};
use rumqttc::v5::{
    mqttbytes::{
        v5::{ConnectReturnCode, Packet, PubAckReason},
        QoS,
    },
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions,
};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

use super::{client::Endpoints, listen, token_cache};

/// A connected device.
pub struct Session {
    pub client: AsyncClient,
    pub events: EventLoop,
    pub registration_id: String,
}

/// The CN of the device's certificate: its registration id.
pub fn registration_id(cert_pem: &str) -> anyhow::Result<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).context("reading device.pem")?;
    let (_, cert) = X509Certificate::from_der(&der).context("parsing device.pem")?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .context("device.pem has no CN")?;
    Ok(cn.to_owned())
}

pub(super) fn tls(
    ep: &Endpoints,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let ca = std::fs::read(&ep.ca).with_context(|| format!("reading {}", ep.ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c?)?;
    }
    let chain =
        CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(crate::net::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?,
    ))
}

/// Connects and waits for the CONNACK.
pub async fn connect(
    ep: &Endpoints,
    cert_pem: &str,
    key_pem: &str,
    token: &str,
) -> anyhow::Result<Session> {
    let registration_id = registration_id(cert_pem)?;
    let (host, port) = ep
        .mqtt_addr
        .rsplit_once(':')
        .context("--mqtt-addr must be HOST:PORT")?;
    let mut o = MqttOptions::new(
        format!(
            "{registration_id}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        host.trim_start_matches('[').trim_end_matches(']'),
        port.parse().context("--mqtt-addr port")?,
    );
    o.set_credentials(registration_id.clone(), token);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(tls(ep, cert_pem, key_pem)?),
    ));
    let (client, mut events) = AsyncClient::new(o, 64);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized)) => {
                bail!(super::Refused {
                    status: 401,
                    code: Some(app::types::ErrorCode::TokenInvalid),
                    message: "the MQTT listener refused the device token".into(),
                })
            }
            Err(e) => bail!("the MQTT listener could not be reached ({e})"),
        }
    }
    Ok(Session {
        client,
        events,
        registration_id,
    })
}

impl Session {
    /// Publishes a batch at QoS 1 and waits for its PUBACK (sent by Vigil
    /// once the batch is committed).
    pub async fn send(&mut self, batch: &ReadingsBatch) -> anyhow::Result<usize> {
        let topic = format!("vigil/devices/{}/readings", self.registration_id);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, serde_json::to_vec(batch)?)
            .await?;
        self.next_ack().await??;
        Ok(batch.readings.len())
    }

    /// The next PUBACK: `Ok(Ok(()))` when the batch was taken, `Ok(Err)`
    /// when Vigil refused it; `Err` when the session ended first.
    async fn next_ack(&mut self) -> anyhow::Result<anyhow::Result<()>> {
        loop {
            match self.events.poll().await? {
                Event::Incoming(Packet::PubAck(ack)) => {
                    return Ok(match ack.reason {
                        PubAckReason::Success => Ok(()),
                        r => Err(anyhow::anyhow!("Vigil refused the batch ({r:?})")),
                    })
                }
                Event::Incoming(Packet::Disconnect(d)) => {
                    bail!("Vigil ended the session ({:?})", d.reason_code)
                }
                _ => {}
            }
        }
    }

    /// Publishes batches made by `next` at QoS 1, keeping up to `window`
    /// of them unacknowledged (Vigil acknowledges in order, each after its
    /// commit), until `end`; `done` hears each acknowledgement with the
    /// batch's readings (or the refusal) and its round trip.
    pub async fn send_window(
        &mut self,
        window: usize,
        end: std::time::Instant,
        mut next: impl FnMut() -> ReadingsBatch,
        mut done: impl FnMut(anyhow::Result<usize>, Duration),
    ) -> anyhow::Result<()> {
        let topic = format!("vigil/devices/{}/readings", self.registration_id);
        let mut in_flight = std::collections::VecDeque::with_capacity(window);
        loop {
            while in_flight.len() < window && std::time::Instant::now() < end {
                let batch = next();
                self.client.try_publish(
                    topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    serde_json::to_vec(&batch)?,
                )?;
                in_flight.push_back((std::time::Instant::now(), batch.readings.len()));
            }
            if in_flight.is_empty() {
                return Ok(());
            }
            let taken = self.next_ack().await?;
            let Some((sent, n)) = in_flight.pop_front() else {
                bail!("a PUBACK for nothing sent")
            };
            done(taken.map(|()| n), sent.elapsed());
        }
    }
}

/// `vigil-device send --mqtt`.
pub async fn send(ep: &Endpoints, dir: &Path, batch: &ReadingsBatch) -> anyhow::Result<usize> {
    let (cert, key) = read_identity(dir)?;
    let device = ep.device_client(dir)?;
    let token = token_cache::current(&device, dir).await?;
    let mut session = match connect(ep, &cert, &key, &token.token).await {
        Ok(s) => s,
        Err(e) if token_cache::token_refused(&e) => {
            let fresh = token_cache::renew(&device, dir).await?;
            connect(ep, &cert, &key, &fresh.token).await?
        }
        Err(e) => return Err(e),
    };
    let n = session.send(batch).await?;
    let _ = session.client.disconnect().await;
    Ok(n)
}

fn read_identity(dir: &Path) -> anyhow::Result<(String, String)> {
    let cert = std::fs::read_to_string(dir.join("device.pem"))
        .with_context(|| format!("reading {}", dir.join("device.pem").display()))?;
    let key = std::fs::read_to_string(dir.join("device.key"))
        .with_context(|| format!("reading {}", dir.join("device.key").display()))?;
    Ok((cert, key))
}

/// `vigil-device listen --mqtt`: subscribes to the device's commands and
/// answers each on its result topic; reconnects with backoff, with a new
/// token when Vigil refuses the one it has.
pub async fn listen(ep: &Endpoints, dir: &Path, handler: &listen::Handler) -> anyhow::Result<()> {
    let (cert, key) = read_identity(dir)?;
    let device = ep.device_client(dir)?;
    let mut backoff = Duration::from_secs(1);
    loop {
        let token = match token_cache::current(&device, dir).await {
            Ok(t) => t.token,
            Err(e) => {
                eprintln!(
                    "no device token ({e:#}); retrying in {} s",
                    backoff.as_secs()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        let mut session = match connect(ep, &cert, &key, &token).await {
            Ok(s) => s,
            Err(e) => {
                if token_cache::token_refused(&e) {
                    let _ = token_cache::renew(&device, dir).await;
                }
                eprintln!("{e:#}; retrying in {} s", backoff.as_secs());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        let commands = format!("vigil/devices/{}/commands", session.registration_id);
        session
            .client
            .subscribe(commands.clone(), QoS::AtLeastOnce)
            .await?;
        let ended = loop {
            match session.events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == commands.as_bytes() => {
                    let Ok(c) = serde_json::from_slice::<DeviceCommand>(&p.payload) else {
                        continue;
                    };
                    let started = std::time::Instant::now();
                    let (id, name) = (c.id, c.name.clone());
                    let answer: CommandResult = listen::carry_out(handler, c).await;
                    let topic = format!("{commands}/{id}/result");
                    let body = serde_json::to_vec(&answer)?;
                    session
                        .client
                        .publish(topic, QoS::AtLeastOnce, false, body)
                        .await?;
                    listen::print_line(id, &name, &answer.status.to_string(), started);
                }
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        eprintln!(
            "the MQTT session ended ({ended}); reconnecting in {} s",
            backoff.as_secs()
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
