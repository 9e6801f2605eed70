//! The north listener's TLS: generated PKI, key file modes, reuse across
//! restarts, and handshakes that cannot block the accept loop.

use std::{os::unix::fs::PermissionsExt, time::Duration};

use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::helpers::*;

#[tokio::test]
async fn generated_private_keys_are_owner_only_and_reused_after_a_restart() {
    let app = spawn_app().await;
    let pki = app.data_path().join("pki");
    let dir_mode =
        |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode(app.data_path()), 0o700);
    assert_eq!(dir_mode(pki.clone()), 0o700);
    for key in [
        "platform-ca.key",
        "server.key",
        "device-ca.key",
        "jwt-signing.key",
    ] {
        let mode = std::fs::metadata(pki.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    let ca = std::fs::read(pki.join("platform-ca.pem")).unwrap();
    let token = app.admin_token().await;
    let (settings, data) = (app.settings.clone(), app.data);
    drop(app.app);
    let again = start(settings, data).await;
    assert_eq!(
        std::fs::read(again.data_path().join("pki/platform-ca.pem")).unwrap(),
        ca
    );
    // Same signing key: a token from before the restart still verifies.
    assert_eq!(again.get("/api/v1/auth/me", &token).await.status(), 200);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_platform_ca_cannot_connect() {
    let app = spawn_app().await;
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(stranger.get(app.url("/healthz")).send().await.is_err());
}

#[tokio::test]
async fn plain_http_is_not_served() {
    let app = spawn_app().await;
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", app.addr.port()))
        .send()
        .await;
    assert!(res.is_err() || !res.unwrap().status().is_success());
}

#[tokio::test]
async fn stalled_handshakes_do_not_block_other_clients() {
    let app = spawn_app().await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        // Half a ClientHello record header, then silence.
        s.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        stalled.push(s);
    }
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        app.client.get(app.url("/healthz")).send(),
    )
    .await
    .expect("served while 20 handshakes stall")
    .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_certificate_and_key_brought_by_the_operator_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "operator cert");
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let app = spawn_with(|s| {
        s.tls_cert = Some(cert_path.clone());
        s.tls_key = Some(key_path.clone());
    })
    .await;
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The platform CA no longer vouches for this listener.
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
}

/// TLS 1.2 is the floor: an openssl client limited to TLS 1.1 fails the
/// handshake while the same client at TLS 1.2 succeeds.
#[tokio::test]
async fn tls_below_1_2_is_refused() {
    let app = spawn_app().await;
    let connect = app.addr.to_string();
    let handshake = |version: &'static str| {
        let connect = connect.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("openssl")
                .args([
                    "s_client",
                    "-connect",
                    &connect,
                    version,
                    "-cipher",
                    "DEFAULT:@SECLEVEL=0",
                    "-servername",
                    "localhost",
                ])
                .stdin(std::process::Stdio::null())
                .output()
                .expect("openssl is installed");
            (
                String::from_utf8_lossy(&out.stdout).contains("BEGIN CERTIFICATE"),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
    };
    assert!(handshake("-tls1_2").await.unwrap().0, "TLS 1.2 works");
    let (ok, stderr) = handshake("-tls1_1").await.unwrap();
    assert!(!ok, "TLS 1.1 is refused");
    // The server said no (an alert read from the peer), not the local openssl.
    assert!(
        stderr.contains("ssl3_read_bytes") && stderr.contains("SSL alert number"),
        "{stderr}"
    );
}

/// Restarts on the same data dir after `damage`, then checks that a client
/// trusting only the (possibly new) platform CA still connects.
async fn restart_after(damage: impl FnOnce(&std::path::Path)) {
    let app = spawn_app().await;
    let (settings, data) = (app.settings.clone(), app.data);
    drop(app.app);
    damage(&data.path().join("pki"));
    let again = start(settings, data).await;
    let res = again.client.get(again.url("/healthz")).send().await;
    assert_eq!(
        res.expect("the served chain matches platform-ca.pem")
            .status(),
        200
    );
}

#[tokio::test]
async fn a_lost_platform_ca_key_renews_the_server_certificate_too() {
    restart_after(|pki| std::fs::remove_file(pki.join("platform-ca.key")).unwrap()).await;
}

#[tokio::test]
async fn a_server_certificate_close_to_expiry_is_renewed() {
    restart_after(|pki| {
        // Ten days left: inside the 30-day renewal window.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(10);
        std::fs::write(
            pki.join("server.pem"),
            params.self_signed(&key).unwrap().pem(),
        )
        .unwrap();
    })
    .await;
}
