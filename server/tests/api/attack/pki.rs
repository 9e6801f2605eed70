//! The platform CA that browsers trust, device certificates that are CAs or
//! weak, and certificates that expire while their connection is open.

use std::{process::Command, time::Duration};

use app::types::{EnrollRequest, ErrorCode};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use serde_json::json;

use crate::{device_helpers::*, helpers::*};

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs")
}

#[tokio::test]
async fn the_platform_ca_is_constrained_to_the_servers_names() {
    let app = spawn_app().await;
    let ca = app.data_path().join("pki/platform-ca.pem");
    let text = openssl(&["x509", "-in", ca.to_str().unwrap(), "-noout", "-text"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("X509v3 Name Constraints: critical"), "{text}");
    for name in [
        "DNS:localhost",
        "IP:127.0.0.1/255.255.255.255",
        "IP:0:0:0:0:0:0:0:1/",
    ] {
        assert!(text.contains(name), "{name} permitted:\n{text}");
    }

    // A certificate for another name, made with the CA's own key, does not
    // verify against it.
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::from_pem(
        &std::fs::read_to_string(app.data_path().join("pki/platform-ca.key")).unwrap(),
    )
    .unwrap();
    let issuer =
        rcgen::Issuer::from_ca_cert_pem(&std::fs::read_to_string(&ca).unwrap(), key).unwrap();
    let evil_key = KeyPair::generate().unwrap();
    let mut evil = CertificateParams::new(vec!["bank.example".into()]).unwrap();
    evil.distinguished_name
        .push(DnType::CommonName, "bank.example");
    let evil_pem = dir.path().join("evil.pem");
    std::fs::write(&evil_pem, evil.signed_by(&evil_key, &issuer).unwrap().pem()).unwrap();
    let verdict = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        evil_pem.to_str().unwrap(),
    ]);
    assert!(
        !verdict.status.success(),
        "{}",
        String::from_utf8_lossy(&verdict.stdout)
    );
    let server = app.data_path().join("pki/server.pem");
    let ok = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        server.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "the server's own certificate still verifies"
    );
}

#[tokio::test]
async fn a_certificate_that_expires_ends_its_open_connection() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, client) = app.enrolled_device(&admin, "expiring").await;
    let token = device_token(&app, &client).await;
    // Its certificate is valid 30 days: move the platform's clock past it.
    app.app
        .state()
        .clock
        .advance(Duration::from_secs(31 * 86_400));
    let res = client
        .post(app.south_url("/device/v1/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("connection").map(|v| v.to_str().unwrap()),
        Some("close")
    );
    assert_eq!(error_code(res).await, (401, ErrorCode::CertificateExpired));
    // Nothing more goes through: a new connection is ended before any
    // request (with real time, the handshake itself refuses it).
    let res = send_readings(
        &app,
        &client,
        &token.token,
        json!({"readings": [{"sensor": "t", "value": 1}]}),
    )
    .await;
    match res {
        Err(_) => {}
        Ok(res) => assert_eq!(error_code(res).await, (401, ErrorCode::CertificateExpired)),
    }
}

#[tokio::test]
async fn a_device_token_never_outlives_its_certificate() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let now = time::OffsetDateTime::now_utc();
    let spec = CertSpec {
        not_after: now + time::Duration::hours(1),
        ..CertSpec::default()
    };
    let cert = self_signed("short-lived", spec);
    let req = EnrollRequest {
        registration_id: "short-lived".into(),
        name: "s".into(),
        cert_sha256: Some(cert.thumbprint()),
        csr_pem: None,
    };
    app.enroll(&admin, &req).await;
    let token = device_token(&app, &app.device_client(&cert.cert_pem, &cert.key_pem)).await;
    let expires = chrono::DateTime::parse_from_rfc3339(&token.expires_at).unwrap();
    assert!(expires.timestamp() <= (now + time::Duration::hours(1)).unix_timestamp());
}

#[tokio::test]
async fn a_ca_certificate_is_never_a_device() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "sneaky-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key).unwrap();
    let thumbprint = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(cert.der()));
    let req = EnrollRequest {
        registration_id: "sneaky-ca".into(),
        name: "s".into(),
        cert_sha256: Some(thumbprint),
        csr_pem: None,
    };
    app.enroll(&admin, &req).await;
    let client = app.device_client(&cert.pem(), &key.serialize_pem());
    let res = client.post(app.south_url("/device/v1/token")).send().await;
    assert!(res.is_err(), "handshake refused: {res:?}");

    // A CSR asking to be a CA is refused at enrollment.
    let dir = tempfile::tempdir().unwrap();
    let csr = dir.path().join("ca.csr");
    let out = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        dir.path().join("k").to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
        "-subj",
        "/CN=x",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ]);
    assert!(out.status.success());
    let res = app
        .try_enroll(
            &admin,
            &json!({"registration_id": "csr-ca", "name": "c",
            "csr_pem": std::fs::read_to_string(&csr).unwrap()}),
        )
        .await;
    assert_eq!(error_code(res).await, (422, ErrorCode::ValidationFailed));
}

#[tokio::test]
async fn csr_keys_must_be_of_a_strong_kind() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    for (i, (key_args, accepted)) in [
        (vec!["-newkey", "rsa:1024"], false),
        (
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
            false,
        ),
        (vec!["-newkey", "rsa:2048"], true),
        (
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            true,
        ),
        (vec!["-newkey", "ed25519"], true),
    ]
    .into_iter()
    .enumerate()
    {
        let csr = dir.path().join(format!("{i}.csr"));
        let mut args = vec!["req", "-new", "-nodes", "-subj", "/CN=x"];
        args.extend(key_args.iter().copied());
        let key = dir.path().join(format!("{i}.key"));
        args.extend([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ]);
        assert!(openssl(&args).status.success(), "{key_args:?}");
        let res = app
            .try_enroll(
                &admin,
                &json!({"registration_id": format!("key-{i}"), "name": "k",
                "csr_pem": std::fs::read_to_string(&csr).unwrap()}),
            )
            .await;
        let status = res.status().as_u16();
        assert_eq!(
            status == 201,
            accepted,
            "{key_args:?}: {}",
            res.text().await.unwrap()
        );
        if !accepted {
            assert_eq!(status, 422, "{key_args:?}");
        }
    }
}
