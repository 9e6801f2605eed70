//! A 202 means durable: readings survive SIGKILL of the real binary right
//! after the acknowledgement.

use std::{net::TcpListener, process::Stdio, time::Duration};

use app::types::{DeviceToken, LoginResponse};
use serde_json::{json, Value};
use sqlx::Row;

use crate::{device_helpers::*, helpers::*};

/// Two distinct free ports (both held until both are chosen).
fn free_ports() -> (u16, u16) {
    let (a, b) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

#[tokio::test]
async fn acknowledged_readings_survive_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let (north, south) = free_ports();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.env("VIGIL_DATA_DIR", data.path())
        .env("VIGIL_HTTPS_ADDR", format!("127.0.0.1:{north}"))
        .env("VIGIL_DEVICE_ADDR", format!("127.0.0.1:{south}"))
        .env("VIGIL_ADMIN_PASSWORD", &password)
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = &db_url {
        cmd.env("VIGIL_DATABASE_URL", url);
    }
    let mut child = cmd.spawn().unwrap();

    let mut ca = None;
    for _ in 0..300 {
        if let Ok(pem) = std::fs::read(data.path().join("pki/platform-ca.pem")) {
            let client = reqwest::Client::builder()
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
                ca = Some((pem, client));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ca_pem, north_client) = ca.expect("vigil started");
    let login: LoginResponse = north_client
        .post(format!("https://127.0.0.1:{north}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login.token.as_str();
    let cert = self_signed("crash-test", CertSpec::default());
    let res = north_client
        .post(format!("https://127.0.0.1:{north}/api/v1/devices"))
        .header("x-access-token", admin)
        .json(&json!({"registration_id": "crash-test", "name": "c", "cert_sha256": cert.thumbprint()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let device = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
        .identity(
            reqwest::Identity::from_pem(format!("{}{}", cert.cert_pem, cert.key_pem).as_bytes())
                .unwrap(),
        )
        .build()
        .unwrap();
    let token: DeviceToken = device
        .post(format!("https://127.0.0.1:{south}/device/v1/token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let readings: Vec<Value> = (0..250)
        .map(|i| json!({"sensor": "s", "value": i}))
        .collect();
    let res = device
        .post(format!("https://127.0.0.1:{south}/device/v1/readings"))
        .header("x-access-token", token.token.as_str())
        .json(&json!({ "readings": readings }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    let url = db_url.unwrap_or_else(|| format!("sqlite://{}/vigil.db", data.path().display()));
    let db = vigil::db::connect(&url).await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM readings")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 250);
}
