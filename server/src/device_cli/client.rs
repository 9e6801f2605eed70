//! HTTP clients of the CLI: the north API (enrollment, with an operator's
//! token) and the south API (mutual TLS with the device's certificate).

use std::path::{Path, PathBuf};

use anyhow::Context;
use app::types::{
    Accepted, Command, CommandResult, DeviceCommand, DeviceToken, EnrollRequest, EnrollResponse,
    ErrorBody, ErrorCode, NewCommand, ReadingsBatch,
};
use reqwest::{Certificate, Client, Identity, Response};

#[derive(Debug, Clone, clap::Args)]
pub struct Endpoints {
    /// Vigil's north API (enrollment).
    #[arg(
        long,
        env = "VIGIL_NORTH_URL",
        default_value = "https://127.0.0.1:8443",
        global = true
    )]
    pub north: String,
    /// Vigil's device API (mutual TLS).
    #[arg(
        long,
        env = "VIGIL_SOUTH_URL",
        default_value = "https://127.0.0.1:8444",
        global = true
    )]
    pub south: String,
    /// The CA that vouches for Vigil's certificate.
    #[arg(
        long,
        env = "VIGIL_CA",
        default_value = "data/pki/platform-ca.pem",
        global = true
    )]
    pub ca: PathBuf,
    /// Vigil's MQTT listener for devices (`--mqtt`), HOST:PORT.
    #[arg(
        long = "mqtt-addr",
        env = "VIGIL_MQTT_ADDR",
        default_value = "127.0.0.1:8883",
        global = true
    )]
    pub mqtt_addr: String,
}

impl Endpoints {
    fn builder(&self) -> anyhow::Result<reqwest::ClientBuilder> {
        let ca = std::fs::read(&self.ca)
            .with_context(|| format!("reading the platform CA {}", self.ca.display()))?;
        Ok(Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(Certificate::from_pem(&ca)?)
            .https_only(true))
    }

    pub fn north_client(&self) -> anyhow::Result<North> {
        self.north_client_at(&self.north)
    }

    /// The north API of another instance (same CA).
    pub fn north_client_at(&self, url: &str) -> anyhow::Result<North> {
        Ok(North {
            http: self.builder()?.build()?,
            base: url.trim_end_matches('/').to_owned(),
        })
    }

    /// A device client from `dir/device.pem` and `dir/device.key`.
    pub fn device_client(&self, dir: &Path) -> anyhow::Result<Device> {
        let cert = std::fs::read_to_string(dir.join("device.pem"))
            .with_context(|| format!("reading {}", dir.join("device.pem").display()))?;
        let key = std::fs::read_to_string(dir.join("device.key"))
            .with_context(|| format!("reading {}", dir.join("device.key").display()))?;
        self.device_client_from_pem(&cert, &key, true)
    }

    pub fn device_client_from_pem(
        &self,
        cert: &str,
        key: &str,
        keep_alive: bool,
    ) -> anyhow::Result<Device> {
        let identity = Identity::from_pem(format!("{cert}{key}").as_bytes())
            .context("loading the device identity")?;
        let mut b = self.builder()?.identity(identity);
        if !keep_alive {
            b = b.pool_max_idle_per_host(0);
        }
        Ok(Device {
            http: b.build()?,
            base: self.south.trim_end_matches('/').to_owned(),
        })
    }
}

#[derive(Clone)]
pub struct North {
    http: Client,
    base: String,
}

impl North {
    /// `GET /api/v1/live`, open (the response, to be read chunk by chunk).
    pub async fn live(&self, token: &str) -> anyhow::Result<reqwest::Response> {
        let res = self
            .http
            .get(format!("{}/api/v1/live", self.base))
            .header("x-access-token", token)
            .send()
            .await?;
        if !res.status().is_success() {
            anyhow::bail!("the live stream was refused: {}", res.status());
        }
        Ok(res)
    }

    /// Logs in; the token.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .context("reaching Vigil's north API")?;
        let body: serde_json::Value = json(res).await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .context("no token in the login answer")
    }

    /// Logs the token out (204).
    pub async fn logout(&self, token: &str) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/logout", self.base))
            .header("x-access-token", token)
            .send()
            .await
            .context("reaching Vigil's north API")?;
        anyhow::ensure!(res.status() == 204, "logout answered {}", res.status());
        Ok(())
    }

    /// The HTTP status of `GET /api/v1/auth/me` with this token.
    pub async fn me_status(&self, token: &str) -> anyhow::Result<u16> {
        let res = self
            .http
            .get(format!("{}/api/v1/auth/me", self.base))
            .header("x-access-token", token)
            .send()
            .await
            .context("reaching Vigil's north API")?;
        Ok(res.status().as_u16())
    }

    /// Creates a user (admin token).
    pub async fn create_user(
        &self,
        token: &str,
        username: &str,
        password: &str,
        role: &str,
    ) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!("{}/api/v1/users", self.base))
            .header("x-access-token", token)
            .json(&serde_json::json!({"username": username, "password": password, "role": role}))
            .send()
            .await
            .context("reaching Vigil's north API")?;
        json::<serde_json::Value>(res).await.map(|_| ())
    }

    pub async fn enroll(&self, token: &str, req: &EnrollRequest) -> anyhow::Result<EnrollResponse> {
        let res = self
            .http
            .post(format!("{}/api/v1/devices", self.base))
            .header("x-access-token", token)
            .json(req)
            .send()
            .await
            .context("reaching Vigil's north API")?;
        json(res).await
    }

    /// Revokes a device's tokens (operator or admin).
    pub async fn revoke_device_tokens(&self, token: &str, device_id: i64) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!(
                "{}/api/v1/devices/{device_id}/revoke-tokens",
                self.base
            ))
            .header("x-access-token", token)
            .send()
            .await
            .context("reaching Vigil's north API")?;
        if res.status().is_success() {
            return Ok(());
        }
        json::<serde_json::Value>(res).await.map(|_| ())
    }

    /// Sends a command; with `wait_s`, the answer comes once it is final.
    pub async fn send_command(
        &self,
        token: &str,
        device_id: i64,
        command: &NewCommand,
        wait_s: Option<u64>,
    ) -> anyhow::Result<Command> {
        let q = wait_s.map(|w| format!("?wait={w}")).unwrap_or_default();
        let res = self
            .http
            .post(format!(
                "{}/api/v1/devices/{device_id}/commands{q}",
                self.base
            ))
            .header("x-access-token", token)
            .json(command)
            .send()
            .await
            .context("reaching Vigil's north API")?;
        json(res).await
    }
}

#[derive(Clone)]
pub struct Device {
    http: Client,
    base: String,
}

impl Device {
    pub async fn token(&self) -> anyhow::Result<DeviceToken> {
        let res = self
            .http
            .post(format!("{}/device/v1/token", self.base))
            .send()
            .await
            .map_err(handshake)?;
        json(res).await
    }

    /// Registers this certificate through its enrollment group: the
    /// device, and whether it was new.
    pub async fn register(&self) -> anyhow::Result<(app::types::Device, bool)> {
        let res = self
            .http
            .post(format!("{}/device/v1/register", self.base))
            .send()
            .await
            .map_err(handshake)?;
        let created = res.status() == reqwest::StatusCode::CREATED;
        Ok((json::<app::types::Registered>(res).await?.device, created))
    }

    /// Asks for a new certificate from a CSR: its PEM.
    pub async fn renew(&self, token: &str, csr_pem: &str) -> anyhow::Result<String> {
        let res = self
            .http
            .post(format!("{}/device/v1/certificate", self.base))
            .header("x-access-token", token)
            .json(&app::types::RenewRequest {
                csr_pem: csr_pem.to_owned(),
            })
            .send()
            .await
            .map_err(handshake)?;
        Ok(json::<app::types::RenewResponse>(res)
            .await?
            .certificate_pem)
    }

    pub async fn send(&self, token: &str, batch: &ReadingsBatch) -> anyhow::Result<usize> {
        let res = self
            .http
            .post(format!("{}/device/v1/readings", self.base))
            .header("x-access-token", token)
            .json(batch)
            .send()
            .await
            .map_err(handshake)?;
        Ok(json::<Accepted>(res).await?.accepted)
    }
}

impl Device {
    /// Queued commands, waiting up to `wait_s` seconds for one.
    pub async fn poll(&self, token: &str, wait_s: u64) -> anyhow::Result<Vec<DeviceCommand>> {
        let res = self
            .http
            .get(format!("{}/device/v1/commands?wait={wait_s}", self.base))
            .header("x-access-token", token)
            .send()
            .await
            .map_err(handshake)?;
        json(res).await
    }

    pub async fn answer(&self, token: &str, id: i64, answer: &CommandResult) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!("{}/device/v1/commands/{id}/result", self.base))
            .header("x-access-token", token)
            .json(answer)
            .send()
            .await
            .map_err(handshake)?;
        if res.status().is_success() {
            return Ok(());
        }
        json::<serde_json::Value>(res).await.map(|_| ())
    }
}

fn handshake(e: reqwest::Error) -> anyhow::Error {
    if e.is_connect() || e.is_request() {
        anyhow::anyhow!(
            "the device API refused the connection or the TLS handshake ({e}); \
             is this device enrolled, not revoked, and its certificate in date?"
        )
    } else {
        e.into()
    }
}

/// Vigil's refusal, in the contract's terms; callers can downcast to it.
#[derive(Debug, thiserror::Error)]
#[error("{}", explain(self))]
pub struct Refused {
    pub status: u16,
    /// `None` when the answer was not the contract's error shape.
    pub code: Option<ErrorCode>,
    pub message: String,
}

fn explain(r: &Refused) -> String {
    match r.code {
        Some(ErrorCode::TokenRevoked) => format!(
            "Vigil refused: the token was revoked (was the device revoked?): {}",
            r.message
        ),
        Some(code) if code.ends_session() => format!("Vigil refused the token: {}", r.message),
        Some(code) => format!("Vigil answered {} {code}: {}", r.status, r.message),
        None => format!("Vigil answered {}", r.status),
    }
}

async fn json<T: serde::de::DeserializeOwned>(res: Response) -> anyhow::Result<T> {
    let status = res.status();
    if status.is_success() {
        return res.json().await.context("reading Vigil's answer");
    }
    let refused = match res.json::<ErrorBody>().await {
        Ok(e) => Refused {
            status: status.as_u16(),
            code: Some(e.error),
            message: e.message,
        },
        Err(_) => Refused {
            status: status.as_u16(),
            code: None,
            message: String::new(),
        },
    };
    Err(refused.into())
}
