//! What was acknowledged survives SIGKILL of the real binary: readings
//! right after their 202, and commands — nothing queued lost, nothing
//! final changed — across a restart.

use std::{net::TcpListener, path::Path, process::Stdio, time::Duration};

use app::types::{Command, CommandStatus, DeviceCommand, DeviceToken, LoginResponse};
use reqwest::Client;
use serde_json::{json, Value};
use sqlx::Row;

use crate::{device_helpers::*, helpers::*};

/// Three distinct free ports (all held until all are chosen).
fn free_ports() -> (u16, u16, u16) {
    let bound: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let port = |i: usize| bound[i].local_addr().unwrap().port();
    (port(0), port(1), port(2))
}

/// The `vigil` binary, running on a data dir (and database).
struct Running {
    child: tokio::process::Child,
    north: u16,
    south: u16,
    mqtt: u16,
    ca_pem: Vec<u8>,
    client: Client,
}

impl Running {
    async fn start(data: &Path, db_url: Option<&str>, password: &str) -> Running {
        let (north, south, mqtt) = free_ports();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.env("VIGIL_DATA_DIR", data)
            .env("VIGIL_HTTPS_ADDR", format!("127.0.0.1:{north}"))
            .env("VIGIL_DEVICE_ADDR", format!("127.0.0.1:{south}"))
            .env("VIGIL_MQTT_ADDR", format!("127.0.0.1:{mqtt}"))
            .env("VIGIL_MQTT_NORTH_ADDR", "127.0.0.1:0")
            .env("VIGIL_ADMIN_PASSWORD", password)
            .env("VIGIL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = db_url {
            cmd.env("VIGIL_DATABASE_URL", url);
        }
        let child = cmd.spawn().unwrap();
        for _ in 0..300 {
            if let Ok(pem) = std::fs::read(data.join("pki/platform-ca.pem")) {
                let client = Client::builder()
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                    .build()
                    .unwrap();
                if client
                    .get(format!("https://127.0.0.1:{north}/healthz"))
                    .send()
                    .await
                    .is_ok()
                {
                    return Running {
                        child,
                        north,
                        south,
                        mqtt,
                        ca_pem: pem,
                        client,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("vigil did not start");
    }

    fn north(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.north)
    }

    fn south(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.south)
    }

    async fn admin_token(&self, password: &str) -> String {
        let login: LoginResponse = self
            .client
            .post(self.north("/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login.token
    }

    /// Enrolls a self-signed device; returns its id and mutual-TLS client.
    async fn device(&self, admin: &str, registration_id: &str) -> (i64, Client) {
        let (id, client, _) = self.device_with_cert(admin, registration_id).await;
        (id, client)
    }

    async fn device_with_cert(
        &self,
        admin: &str,
        registration_id: &str,
    ) -> (i64, Client, DeviceCert) {
        let cert = self_signed(registration_id, CertSpec::default());
        let res = self
            .client
            .post(self.north("/api/v1/devices"))
            .header("x-access-token", admin)
            .json(&json!({"registration_id": registration_id, "name": "c", "cert_sha256": cert.thumbprint()}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let id = res.json::<Value>().await.unwrap()["device"]["id"]
            .as_i64()
            .unwrap();
        let client = self.device_client(&cert);
        (id, client, cert)
    }

    fn device_client(&self, cert: &DeviceCert) -> Client {
        Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem).unwrap())
            .identity(
                reqwest::Identity::from_pem(
                    format!("{}{}", cert.cert_pem, cert.key_pem).as_bytes(),
                )
                .unwrap(),
            )
            .build()
            .unwrap()
    }

    async fn device_token(&self, device: &Client) -> String {
        let token: DeviceToken = device
            .post(self.south("/device/v1/token"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token.token
    }

    async fn kill(mut self) {
        self.child.start_kill().unwrap(); // SIGKILL
        self.child.wait().await.unwrap();
    }
}

#[tokio::test]
async fn acknowledged_readings_survive_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let (_, device) = vigil.device(&admin, "crash-test").await;
    let token = vigil.device_token(&device).await;
    let readings: Vec<Value> = (0..250)
        .map(|i| json!({"sensor": "s", "value": i}))
        .collect();
    let res = device
        .post(vigil.south("/device/v1/readings"))
        .header("x-access-token", token.as_str())
        .json(&json!({ "readings": readings }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    vigil.kill().await;

    let url = db_url.unwrap_or_else(|| format!("sqlite://{}/vigil.db", data.path().display()));
    let db = vigil::db::connect(&url, "vigil-test").await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM readings")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 250);
}

#[tokio::test]
async fn commands_survive_sigkill_queued_or_final() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let (id, device) = vigil.device(&admin, "crash-commands").await;
    let token = vigil.device_token(&device).await;
    let send = async |name: &str| -> Command {
        let res = vigil
            .client
            .post(vigil.north(&format!("/api/v1/devices/{id}/commands")))
            .header("x-access-token", &admin)
            .json(&json!({"name": name, "payload": {"name": name}, "ttl_s": 3600}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    };
    let answered = send("answered").await;
    let taken: Vec<DeviceCommand> = device
        .get(vigil.south("/device/v1/commands"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let res = device
        .post(vigil.south(&format!("/device/v1/commands/{}/result", answered.id)))
        .header("x-access-token", &token)
        .json(&json!({"status": "succeeded", "result": {"ok": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cancelled = send("cancelled").await;
    let res = vigil
        .client
        .post(vigil.north(&format!("/api/v1/commands/{}/cancel", cancelled.id)))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let mut queued = Vec::new();
    for i in 0..5 {
        queued.push(send(&format!("queued-{i}")).await.id);
    }
    vigil.kill().await;

    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let listed: Vec<Command> = vigil
        .client
        .get(vigil.north(&format!("/api/v1/devices/{id}/commands")))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = |cid: i64| listed.iter().find(|c| c.id == cid).unwrap().clone();
    let a = status(answered.id);
    assert_eq!(
        (a.status, a.result),
        (CommandStatus::Succeeded, Some(json!({"ok": 1})))
    );
    assert_eq!(status(cancelled.id).status, CommandStatus::Cancelled);
    for q in &queued {
        assert_eq!(status(*q).status, CommandStatus::Queued);
    }
    // The device, on a new connection, receives all of them in order.
    let cert_client = device;
    let token = vigil.device_token(&cert_client).await;
    let taken: Vec<DeviceCommand> = cert_client
        .get(vigil.south("/device/v1/commands"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|c| c.id).collect::<Vec<_>>(), queued);
    vigil.kill().await;
}

#[tokio::test]
async fn readings_acknowledged_over_mqtt_survive_sigkill() {
    use rumqttc::v5::{mqttbytes::v5::Packet, mqttbytes::QoS, AsyncClient, Event, MqttOptions};
    use rustls_pki_types::pem::PemObject;
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let (_, device, cert) = vigil.device_with_cert(&admin, "crash-mqtt").await;
    let token = vigil.device_token(&device).await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(&vigil.ca_pem).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![rustls_pki_types::CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()],
        rustls_pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut o = MqttOptions::new("crash", "127.0.0.1", vigil.mqtt);
    o.set_credentials("crash-mqtt", token);
    o.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(config)),
    ));
    let (client, mut el) = AsyncClient::new(o, 16);
    let readings: Vec<Value> = (0..250)
        .map(|i| json!({"sensor": "m", "value": i}))
        .collect();
    client
        .publish(
            "vigil/devices/crash-mqtt/readings",
            QoS::AtLeastOnce,
            false,
            json!({ "readings": readings }).to_string(),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.unwrap() {
                return;
            }
        }
    })
    .await
    .expect("a PUBACK");
    vigil.kill().await;

    let url = db_url.unwrap_or_else(|| format!("sqlite://{}/vigil.db", data.path().display()));
    let db = vigil::db::connect(&url, "vigil-test").await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM readings")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 250);
}
