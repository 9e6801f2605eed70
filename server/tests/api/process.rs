//! The real `vigil` binary in a process of its own: on a data dir (and a
//! database), on free loopback ports, with its log lines kept for the test
//! to read. The crash, stop and cluster tests drive it.

use std::{
    path::Path,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::types::{DeviceToken, LoginResponse};
use reqwest::Client;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use crate::device_helpers::*;

/// The port logged for `key` in the start line (`key=127.0.0.1:P` in
/// text, `"key":"127.0.0.1:P"` in JSON).
fn logged_port(line: &str, key: &str) -> Option<u16> {
    for pattern in [
        format!(" {key}=127.0.0.1:"),
        format!("\"{key}\":\"127.0.0.1:"),
    ] {
        if let Some(at) = line.find(&pattern) {
            let digits: String = line[at + pattern.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            return digits.parse().ok();
        }
    }
    None
}

/// The value of the sample `name` (with its labels, as written) in `text`.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A running `vigil`.
pub struct Running {
    pub child: tokio::process::Child,
    pub north: u16,
    pub south: u16,
    pub mqtt: u16,
    pub mqtt_north: u16,
    pub metrics: u16,
    pub ca_pem: Vec<u8>,
    pub client: Client,
    /// Its stderr, line by line.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub async fn start(data: &Path, db_url: Option<&str>, password: &str) -> Running {
        Running::start_with(data, db_url, password, &[]).await
    }

    /// With more environment (it wins over the defaults set here).
    pub async fn start_with(
        data: &Path,
        db_url: Option<&str>,
        password: &str,
        env: &[(&str, &str)],
    ) -> Running {
        // Every listener on a port the kernel picks, read back from the
        // start line: no port is freed and then hoped for.
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.env("VIGIL_DATA_DIR", data)
            .env("VIGIL_HTTPS_ADDR", "127.0.0.1:0")
            .env("VIGIL_DEVICE_ADDR", "127.0.0.1:0")
            .env("VIGIL_MQTT_ADDR", "127.0.0.1:0")
            .env("VIGIL_MQTT_NORTH_ADDR", "127.0.0.1:0")
            .env("VIGIL_METRICS_ADDR", "127.0.0.1:0")
            .env("VIGIL_ADMIN_PASSWORD", password)
            .env("VIGIL_LOG", "info")
            .env_remove("VIGIL_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(url) = db_url {
            cmd.env("VIGIL_DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        for _ in 0..300 {
            let serving = log
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("vigil is serving"))
                .cloned();
            if let Some(line) = serving {
                let port =
                    |key| logged_port(&line, key).unwrap_or_else(|| panic!("no {key} in: {line}"));
                let pem = std::fs::read(data.join("pki/platform-ca.pem")).unwrap();
                let client = Client::builder()
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                    .build()
                    .unwrap();
                return Running {
                    child,
                    north: port("north"),
                    south: port("devices"),
                    mqtt: port("mqtt"),
                    mqtt_north: port("mqtt_north"),
                    metrics: port("metrics"),
                    ca_pem: pem,
                    client,
                    log,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "vigil exited ({status}) at start:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("vigil did not start: {:?}", log.lock().unwrap());
    }

    /// Another instance on the same database, with this one's PKI files
    /// (copied into `data`) and signing keys: a cluster's second member.
    pub async fn join(&self, own: &Path, data: &Path, db_url: &str, password: &str) -> Running {
        let pki = data.join("pki");
        std::fs::create_dir_all(&pki).unwrap();
        for f in std::fs::read_dir(own.join("pki")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), pki.join(f.file_name())).unwrap();
        }
        Running::start(data, Some(db_url), password).await
    }

    pub fn north(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.north)
    }

    pub fn south(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.south)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        self.session(username, password).await.token
    }

    pub async fn session(&self, username: &str, password: &str) -> LoginResponse {
        self.client
            .post(self.north("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn admin_token(&self, password: &str) -> String {
        self.login("admin", password).await
    }

    /// `GET /api/v1/auth/me`'s status with this token.
    pub async fn me(&self, token: &str) -> u16 {
        self.client
            .get(self.north("/api/v1/auth/me"))
            .header("x-access-token", token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Enrolls a self-signed device; returns its id and mutual-TLS client.
    pub async fn device(&self, admin: &str, registration_id: &str) -> (i64, Client) {
        let (id, client, _) = self.device_with_cert(admin, registration_id).await;
        (id, client)
    }

    pub async fn device_with_cert(
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

    pub fn device_client(&self, cert: &DeviceCert) -> Client {
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

    pub async fn device_token(&self, device: &Client) -> String {
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

    /// An MQTT 5.0 session of the device on the device listener (not yet
    /// connected: the event loop connects when polled).
    pub fn mqtt_device(
        &self,
        cert: &DeviceCert,
        registration_id: &str,
        token: &str,
    ) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
        let config = crate::mqtt::tls_config(&self.ca_pem, Some(cert));
        let mut o = rumqttc::v5::MqttOptions::new(registration_id, "127.0.0.1", self.mqtt);
        o.set_credentials(registration_id, token);
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(config),
        ));
        rumqttc::v5::AsyncClient::new(o, 16)
    }

    /// A client application's MQTT 5.0 session on the apps' listener.
    pub fn mqtt_app(
        &self,
        user: &str,
        token: &str,
    ) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
        let config = crate::mqtt::tls_config(&self.ca_pem, None);
        let mut o = rumqttc::v5::MqttOptions::new(
            format!("app-{}", uuid::Uuid::new_v4().simple()),
            "127.0.0.1",
            self.mqtt_north,
        );
        o.set_credentials(user, token);
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(config),
        ));
        rumqttc::v5::AsyncClient::new(o, 16)
    }

    /// This instance's name on the database (from its start log line).
    pub fn instance(&self) -> String {
        for line in self.log_lines() {
            if let Some(at) = line.find("instance=") {
                let rest = line[at + "instance=".len()..].trim_start_matches('"');
                return rest.chars().take("vigil-".len() + 12).collect();
            }
        }
        panic!("no instance name logged: {:?}", self.log_lines());
    }

    /// `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The lines logged so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Sends `signal` (`TERM`, `INT`); returns the exit status and how long
    /// the process took to exit (at most 20 s are waited).
    pub async fn signal(&mut self, signal: &str) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        self.send_signal(signal);
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("vigil exited within 20 s")
            .unwrap();
        (status, sent.elapsed())
    }

    /// Sends `signal` and returns at once.
    pub fn send_signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal}");
    }

    pub async fn kill(mut self) {
        self.child.start_kill().unwrap(); // SIGKILL
        self.child.wait().await.unwrap();
    }
}
