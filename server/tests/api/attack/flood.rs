//! A flood of connections past the open-file limit on the north listener,
//! against the real binary run with a low limit: devices are still served
//! on the south listener.

use std::{net::TcpListener as StdListener, process::Stdio, time::Duration};

use app::types::LoginResponse;
use serde_json::json;

use super::*;
use crate::{device_helpers::*, helpers::*};

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_flood_past_the_open_file_limit_on_the_north_listener_leaves_the_south_serving() {
    let data = tempfile::tempdir().unwrap();
    let (north, south) = (free_port(), free_port());
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.env("VIGIL_DATA_DIR", data.path())
        .env("VIGIL_HTTPS_ADDR", format!("127.0.0.1:{north}"))
        .env("VIGIL_DEVICE_ADDR", format!("127.0.0.1:{south}"))
        .env("VIGIL_ADMIN_PASSWORD", STRONG)
        .env("VIGIL_HEADER_TIMEOUT", "60s")
        .env("VIGIL_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = fresh_database().await {
        cmd.env("VIGIL_DATABASE_URL", url);
    }
    // 256 open files at most, soft and hard: Vigil cannot raise it.
    unsafe {
        cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 256, 256));
    }
    let _child = cmd.spawn().unwrap();

    let mut client = None;
    for _ in 0..300 {
        if let Ok(pem) = std::fs::read(data.path().join("pki/platform-ca.pem")) {
            let c = reqwest::Client::builder()
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                .build()
                .unwrap();
            if c.get(format!("https://127.0.0.1:{north}/healthz"))
                .send()
                .await
                .is_ok()
            {
                client = Some(c);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let north_client = client.expect("vigil started");
    let login: LoginResponse = north_client
        .post(format!("https://127.0.0.1:{north}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": STRONG}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cert = self_signed("flood-survivor", CertSpec::default());
    let res = north_client
        .post(format!("https://127.0.0.1:{north}/api/v1/devices"))
        .header("x-access-token", &login.token)
        .json(&json!({"registration_id": "flood-survivor", "name": "d", "cert_sha256": cert.thumbprint()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // 400 connections to the north listener from eight addresses (each
    // under its own cap of 64), held open: more than the process may open.
    let mut flood = Vec::new();
    for i in 0..400u32 {
        let from = ip(&format!("127.0.1.{}", 1 + i % 8));
        if let Ok(tcp) = tcp_from(from, format!("127.0.0.1:{north}").parse().unwrap()).await {
            flood.push(tcp);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The flood holds the north listener's whole share (a new connection
    // is closed at once)...
    let pem = std::fs::read(data.path().join("pki/platform-ca.pem")).unwrap();
    let newcomer = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let starved = newcomer
        .get(format!("https://127.0.0.1:{north}/healthz"))
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    assert!(starved.is_err(), "the north listener is full: {starved:?}");

    // ...and devices are served all the same.
    let identity =
        reqwest::Identity::from_pem(format!("{}{}", cert.cert_pem, cert.key_pem).as_bytes())
            .unwrap();
    let pem = std::fs::read(data.path().join("pki/platform-ca.pem")).unwrap();
    let device = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .identity(identity)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let res = device
        .post(format!("https://127.0.0.1:{south}/device/v1/token"))
        .send()
        .await
        .expect("the south listener answers during the flood");
    assert_eq!(res.status(), 200);
    drop(flood);
}
