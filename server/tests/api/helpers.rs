//! `spawn_app()`: a Vigil on ephemeral ports with its own data dir and
//! database, and a client that trusts only that instance's platform CA.

use std::{net::SocketAddr, path::PathBuf};

use app::types::{ErrorBody, ErrorCode, LoginResponse, Role, UserInfo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Certificate, Response};
use serde_json::{json, Value};
use sqlx::Connection;
use tempfile::TempDir;
use vigil::{
    settings::{ExposeSecret, SecretString, Settings},
    startup::Application,
};

pub const ADMIN: &str = "admin";
/// A password the policy accepts.
pub const STRONG: &str = "violet-anchor-91-harbour";

pub struct TestApp {
    pub app: Application,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub admin_password: String,
    pub settings: Settings,
    pub data: TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let mut s = Settings::defaults();
    s.data_dir = data.path().to_path_buf();
    s.https_addr = "127.0.0.1:0".parse().unwrap();
    s.device_addr = "127.0.0.1:0".parse().unwrap();
    s.mqtt_addr = "127.0.0.1:0".parse().unwrap();
    s.mqtt_north_addr = "127.0.0.1:0".parse().unwrap();
    s.admin_password = Some(SecretString::from(format!(
        "pw-{}",
        uuid::Uuid::new_v4().simple()
    )));
    s.database_url = fresh_database().await.map(SecretString::from);
    s.log = "warn".into();
    tweak(&mut s);
    start(s, data).await
}

/// Starts (again) on an existing data dir and database.
pub async fn start(settings: Settings, data: TempDir) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("the app starts");
    let addr = app.north_addr();
    let ca = std::fs::read(data.path().join("pki/platform-ca.pem")).expect("platform CA written");
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(&ca).unwrap())
        .https_only(true)
        .build()
        .unwrap();
    let admin_password = settings
        .admin_password
        .as_ref()
        .map(|p| p.expose_secret().to_owned())
        .unwrap_or_default();
    TestApp {
        app,
        addr,
        client,
        admin_password,
        settings,
        data,
    }
}

/// A new, empty PostgreSQL database when the suite runs against PostgreSQL.
pub async fn fresh_database() -> Option<String> {
    let base = std::env::var("VIGIL_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("vigil_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("PostgreSQL reachable");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (head, _) = base.rsplit_once('/').expect("database URL has a path");
    Some(format!("{head}/{name}"))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.addr.port(), path)
    }

    pub fn data_path(&self) -> PathBuf {
        self.data.path().to_path_buf()
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the login answer.
    pub async fn session(&self, username: &str, password: &str) -> LoginResponse {
        let res = self.login(username, password).await;
        assert_eq!(res.status(), 200, "login of {username} should succeed");
        res.json().await.unwrap()
    }

    pub async fn admin_token(&self) -> String {
        self.session(ADMIN, &self.admin_password).await.token
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("x-access-token", token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Option<Value>) -> Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("x-access-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .header("x-access-token", token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a user with the given role and returns (id, token).
    pub async fn user_with_role(&self, admin: &str, username: &str, role: Role) -> (i64, String) {
        let pw = STRONG;
        let res = self
            .post(
                "/api/v1/users",
                admin,
                Some(json!({ "username": username, "password": pw, "role": role })),
            )
            .await;
        assert_eq!(res.status(), 201);
        let user: UserInfo = res.json().await.unwrap();
        (user.id, self.session(username, pw).await.token)
    }

    /// Signs arbitrary claims with the server's real JWT key: a valid
    /// signature over claims the server must still refuse.
    pub fn sign_with_server_key(&self, claims: &Value) -> String {
        let pem = std::fs::read(self.data.path().join("pki/jwt-signing.key")).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.app.state().tokens.kid().to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(&pem).unwrap()).unwrap()
    }
}

/// The status and code of an error answer, which must be an `ErrorBody`:
/// a known code and a message.
pub async fn error_code(res: Response) -> (u16, ErrorCode) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("errors are JSON");
    let error: ErrorBody = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("error has a known code and a message ({e}): {body}"));
    (status, error.error)
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims the server would issue for the admin (user 1), to be altered.
pub fn user_claims() -> Value {
    let now = now();
    json!({
        "iss": "vigil", "aud": "vigil-north", "sub": "1", "jti": uuid::Uuid::new_v4().simple().to_string(),
        "iat": now, "nbf": now, "exp": now + 600, "typ": "user", "role": "admin"
    })
}

/// Polls `holds` every 20 ms for up to 10 s; how long after `since` it
/// held.
pub async fn held_since<F, Fut>(since: std::time::Instant, mut holds: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while since.elapsed() < std::time::Duration::from_secs(10) {
        if holds().await {
            return since.elapsed();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("still not so after 10 s");
}

/// The next page a list's answer links (`Link: <path>; rel="next"`), if
/// any: the path and query to ask next.
pub fn next_link(res: &Response) -> Option<String> {
    res.headers().get("link").map(|l| {
        let l = l.to_str().unwrap();
        assert!(l.ends_with("rel=\"next\""), "{l}");
        l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
    })
}

/// The `x-total-count` a list's answer gives: what its filters match
/// over all pages.
pub fn total_count(res: &Response) -> i64 {
    res.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}
