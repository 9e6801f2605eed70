//! Both MQTT listeners, with real MQTT clients (rumqttc, 3.1.1 and 5.0)
//! over real TLS, and raw packets where a client library would not
//! misbehave on purpose. The helpers are here; the tests in `devices` and
//! `clients`.

pub mod clients;
pub mod devices;
pub mod mosquitto;

use std::{sync::Arc, time::Duration};

use app::types::Reading;
use rumqttc::{TlsConfiguration, Transport};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

use tokio::io::AsyncReadExt;

use crate::{device_helpers::*, helpers::*};

/// A client TLS configuration trusting the platform CA (`ca_pem`) and,
/// for the device listener, presenting `cert`.
pub fn tls_config(ca_pem: &[u8], cert: Option<&DeviceCert>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match cert {
        Some(cert) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

fn platform_ca(app: &TestApp) -> Vec<u8> {
    std::fs::read(app.data_path().join("pki/platform-ca.pem")).unwrap()
}

/// A client TLS configuration trusting the platform CA and presenting
/// `cert`.
pub fn client_tls(app: &TestApp, cert: &DeviceCert) -> Arc<rustls::ClientConfig> {
    tls_config(&platform_ca(app), Some(cert))
}

pub fn transport(app: &TestApp, cert: &DeviceCert) -> Transport {
    Transport::tls_with_config(TlsConfiguration::Rustls(client_tls(app, cert)))
}

pub fn port(app: &TestApp) -> u16 {
    app.app.mqtt_addr().port()
}

/// An enrolled device, its certificate and a device token.
pub async fn device(app: &TestApp, admin: &str, rid: &str) -> (i64, DeviceCert, String) {
    let (d, cert, client) = app.enrolled_device(admin, rid).await;
    let token = device_token(app, &client).await.token;
    (d.id, cert, token)
}

pub mod v4 {
    pub use rumqttc::{
        AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet,
        QoS, SubscribeReasonCode,
    };
}

pub mod v5 {
    pub use rumqttc::v5::{
        mqttbytes::{
            v5::{
                ConnectReturnCode, DisconnectReasonCode, Packet, PubAckReason, SubscribeReasonCode,
            },
            QoS,
        },
        AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, StateError,
    };
}

pub fn v4_client(
    app: &TestApp,
    cert: &DeviceCert,
    user: &str,
    token: &str,
) -> (v4::AsyncClient, v4::EventLoop) {
    let mut o = v4::MqttOptions::new(
        format!("c-{}", uuid::Uuid::new_v4().simple()),
        "127.0.0.1",
        port(app),
    );
    o.set_credentials(user, token);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_transport(transport(app, cert));
    v4::AsyncClient::new(o, 16)
}

pub fn v5_client(
    app: &TestApp,
    cert: &DeviceCert,
    user: &str,
    token: &str,
) -> (v5::AsyncClient, v5::EventLoop) {
    let mut o = v5::MqttOptions::new(
        format!("c-{}", uuid::Uuid::new_v4().simple()),
        "127.0.0.1",
        port(app),
    );
    o.set_credentials(user, token);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_transport(transport(app, cert));
    v5::AsyncClient::new(o, 16)
}

/// Polls until an incoming packet matches, or an error, or 5 s pass.
pub async fn until_v4(
    el: &mut v4::EventLoop,
    mut want: impl FnMut(&v4::Packet) -> bool,
) -> Result<v4::Packet, v4::ConnectionError> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let v4::Event::Incoming(p) = el.poll().await? {
                if want(&p) {
                    return Ok(p);
                }
            }
        }
    })
    .await
    .expect("an answer within 5 s")
}

pub async fn until_v5(
    el: &mut v5::EventLoop,
    mut want: impl FnMut(&v5::Packet) -> bool,
) -> Result<v5::Packet, v5::ConnectionError> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let v5::Event::Incoming(p) = el.poll().await? {
                if want(&p) {
                    return Ok(p);
                }
            }
        }
    })
    .await
    .expect("an answer within 5 s")
}

pub async fn stored(app: &TestApp, admin: &str, id: i64) -> Vec<Reading> {
    app.get(&format!("/api/v1/devices/{id}/readings"), admin)
        .await
        .json()
        .await
        .unwrap()
}

pub fn raw_connect(user: &str, password: &str, keep_alive: u16) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0b1100_0010];
    body.extend(keep_alive.to_be_bytes());
    for field in ["raw-client", user, password] {
        body.extend((field.len() as u16).to_be_bytes());
        body.extend(field.as_bytes());
    }
    raw_packet(0x10, body)
}

/// A 3.1.1 PUBLISH: QoS 1 with a packet id, QoS 0 without.
pub fn raw_publish(topic: &str, packet_id: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut body = (topic.len() as u16).to_be_bytes().to_vec();
    body.extend(topic.as_bytes());
    if let Some(id) = packet_id {
        body.extend(id.to_be_bytes());
    }
    body.extend(payload);
    raw_packet(if packet_id.is_some() { 0x32 } else { 0x30 }, body)
}

/// A 3.1.1 SUBSCRIBE of one filter at QoS 0.
pub fn raw_subscribe(packet_id: u16, filter: &str) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    body.extend((filter.len() as u16).to_be_bytes());
    body.extend(filter.as_bytes());
    body.push(0);
    raw_packet(0x82, body)
}

/// A fixed header (type and flags, remaining length) before `body`.
fn raw_packet(first: u8, body: Vec<u8>) -> Vec<u8> {
    let mut packet = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if len == 0 {
            break;
        }
    }
    packet.extend(body);
    packet
}

pub async fn raw_tls(
    app: &TestApp,
    cert: &DeviceCert,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(app.app.mqtt_addr())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_tls(app, cert));
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// Reads until the server closes the connection; how long that took.
pub async fn closed_within(
    tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    within: Duration,
) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    tokio::time::timeout(within, async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// The client applications' listener: server authentication only.
pub fn north_tls(app: &TestApp) -> Transport {
    Transport::tls_with_config(TlsConfiguration::Rustls(tls_config(
        &platform_ca(app),
        None,
    )))
}

pub fn app_v5(app: &TestApp, user: &str, token: &str) -> (v5::AsyncClient, v5::EventLoop) {
    let port = app.app.mqtt_north_addr().port();
    let mut o = v5::MqttOptions::new(
        format!("app-{}", uuid::Uuid::new_v4().simple()),
        "127.0.0.1",
        port,
    );
    o.set_credentials(user, token);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_transport(north_tls(app));
    v5::AsyncClient::new(o, 16)
}

pub fn app_v4(app: &TestApp, user: &str, token: &str) -> (v4::AsyncClient, v4::EventLoop) {
    let port = app.app.mqtt_north_addr().port();
    let mut o = v4::MqttOptions::new(
        format!("app-{}", uuid::Uuid::new_v4().simple()),
        "127.0.0.1",
        port,
    );
    o.set_credentials(user, token);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_transport(north_tls(app));
    v4::AsyncClient::new(o, 16)
}
