//! Devices over real mutual-TLS handshakes with certificates made here.

use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use crate::{device_helpers::*, helpers::*};

fn one_reading(value: f64) -> Value {
    json!({ "readings": [{ "sensor": "temperature", "value": value, "unit": "C" }] })
}

async fn handshake_refused(app: &TestApp, client: &reqwest::Client) {
    let res = client.post(app.south_url("/device/v1/token")).send().await;
    assert!(
        res.is_err(),
        "the handshake should fail, got {:?}",
        res.map(|r| r.status())
    );
}

#[tokio::test]
async fn a_self_signed_device_gets_a_bound_token_and_its_readings_are_stored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, cert, client) = app.enrolled_device(&admin, "sensor-1").await;
    assert_eq!(device["status"], "active");
    assert_eq!(device["cert_sha256"], cert.thumbprint());

    let token = device_token(&app, &client).await;
    let claims: Value = {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        let part = token["token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
    };
    assert_eq!(claims["typ"], "device");
    assert_eq!(claims["sub"], device["id"].to_string());
    use sha2::Digest;
    let x5t = {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        B64.encode(sha2::Sha256::digest(&cert.der))
    };
    assert_eq!(claims["cnf"]["x5t#S256"], x5t);

    let t = token["token"].as_str().unwrap();
    let body = json!({ "readings": [
        { "sensor": "temperature", "value": 21.5, "unit": "C", "ts": "2026-11-22T10:00:00Z" },
        { "sensor": "temperature", "value": 22.0, "unit": "C", "ts": "2026-11-22T10:01:00Z" },
        { "sensor": "humidity", "value": 40 }
    ]});
    let res = send_readings(&app, &client, t, body).await.unwrap();
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "accepted": 3 }));

    let id = device["id"].as_i64().unwrap();
    let temps: Value = app
        .get(
            &format!("/api/v1/devices/{id}/readings?sensor=temperature"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(temps.as_array().unwrap().len(), 2);
    assert_eq!(temps[0]["value"], 22.0, "newest first");
    assert_eq!(temps[0]["ts"], "2026-11-22T10:01:00.000Z");
    assert_eq!(temps[1]["unit"], "C");
    let ranged: Value = app
        .get(
            &format!(
                "/api/v1/devices/{id}/readings?from=2026-11-22T10:00:30Z&to=2026-11-22T10:05:00Z"
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ranged.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_csr_is_signed_by_the_device_ca_and_the_certificate_works() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (csr_pem, key_pem) = csr("whatever-the-device-asks");
    let res = app
        .enroll(
            &admin,
            json!({"registration_id": "csr-dev", "name": "CSR device", "csr_pem": csr_pem}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["device"]["enrollment"], "ca_issued");
    let cert_pem = body["certificate_pem"].as_str().unwrap();
    let client = app.device_client(cert_pem, &key_pem);
    let token = device_token(&app, &client).await;
    let res = send_readings(
        &app,
        &client,
        token["token"].as_str().unwrap(),
        one_reading(1.0),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn a_csr_whose_signature_does_not_verify_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (csr_pem, _) = csr("x");
    let der = pem::parse(&csr_pem).unwrap().into_contents();
    let mut broken = der.clone();
    let n = broken.len();
    broken[n - 3] ^= 0x55;
    let broken = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", broken));
    let res = app
        .enroll(
            &admin,
            json!({"registration_id": "bad-csr", "name": "x", "csr_pem": broken}),
        )
        .await;
    assert_eq!(error_code(res).await, (422, "validation_failed".into()));
    let list: Value = app
        .get("/api/v1/devices", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(list.as_array().unwrap().is_empty(), "nothing enrolled");
}

#[tokio::test]
async fn handshakes_without_an_acceptable_certificate_fail() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    handshake_refused(&app, &app.anonymous_south_client()).await;

    let stranger = self_signed("unenrolled", CertSpec::default());
    handshake_refused(
        &app,
        &app.device_client(&stranger.cert_pem, &stranger.key_pem),
    )
    .await;

    let foreign = signed_by_stranger_ca("foreign");
    handshake_refused(
        &app,
        &app.device_client(&foreign.cert_pem, &foreign.key_pem),
    )
    .await;

    let now = OffsetDateTime::now_utc();
    let cases = [
        (
            "expired",
            CertSpec {
                not_before: now - Duration::days(10),
                not_after: now - Duration::days(1),
                ..Default::default()
            },
        ),
        (
            "not-yet-valid",
            CertSpec {
                not_before: now + Duration::days(1),
                not_after: now + Duration::days(10),
                ..Default::default()
            },
        ),
        (
            "server-auth-only",
            CertSpec {
                eku: vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth],
                ..Default::default()
            },
        ),
        (
            "no-eku",
            CertSpec {
                eku: vec![],
                ..Default::default()
            },
        ),
    ];
    for (name, spec) in cases {
        let cert = self_signed(name, spec);
        let res = app
            .enroll(
                &admin,
                json!({"registration_id": name, "name": name, "cert_sha256": cert.thumbprint()}),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "{name} enrolls (the check is at the handshake)"
        );
        handshake_refused(&app, &app.device_client(&cert.cert_pem, &cert.key_pem)).await;
    }
    // The control: a good certificate enrolled the same way passes.
    let (_, _, good) = app.enrolled_device(&admin, "good").await;
    device_token(&app, &good).await;
}

/// Speaks raw TLS with a chosen certificate and signing key (reqwest refuses
/// a mismatched pair before connecting) and returns what the server answered
/// to a plain request, or None when the connection failed.
async fn raw_exchange(app: &TestApp, cert_der: &[u8], key_pem: &str) -> Option<String> {
    use std::sync::Arc;

    use rustls::{
        client::ResolvesClientCert, sign::CertifiedKey, ClientConfig, RootCertStore,
        SignatureScheme,
    };
    use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[derive(Debug)]
    struct Fixed(Arc<CertifiedKey>);
    impl ResolvesClientCert for Fixed {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap())
        .unwrap();
    let certified = CertifiedKey::new(vec![CertificateDer::from(cert_der.to_vec())], key);
    let mut roots = RootCertStore::empty();
    let ca = std::fs::read(app.data_path().join("pki/platform-ca.pem")).unwrap();
    roots
        .add(CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(Fixed(Arc::new(certified))));
    let tcp = tokio::net::TcpStream::connect(app.app.device_addr())
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .ok()?;
    tls.write_all(b"POST /device/v1/token HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.ok()?;
    Some(String::from_utf8_lossy(&out).into_owned()).filter(|s| !s.is_empty())
}

#[tokio::test]
async fn the_key_must_match_the_enrolled_certificate() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, cert, _) = app.enrolled_device(&admin, "owner").await;
    let control = raw_exchange(&app, &cert.der, &cert.key_pem)
        .await
        .expect("the owner's key works");
    assert!(control.starts_with("HTTP/1.1 200"), "{control}");
    // The enrolled certificate with another key: no proof of possession.
    let thief = self_signed("thief", CertSpec::default());
    assert_eq!(raw_exchange(&app, &cert.der, &thief.key_pem).await, None);
}

#[tokio::test]
async fn a_token_is_bound_to_its_own_certificate() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, a) = app.enrolled_device(&admin, "dev-a").await;
    let (_, _, b) = app.enrolled_device(&admin, "dev-b").await;
    let token_a = device_token(&app, &a).await;
    let res = send_readings(
        &app,
        &b,
        token_a["token"].as_str().unwrap(),
        one_reading(1.0),
    )
    .await
    .unwrap();
    assert_eq!(error_code(res).await, (401, "token_invalid".into()));
    let res = send_readings(
        &app,
        &a,
        token_a["token"].as_str().unwrap(),
        one_reading(1.0),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn user_and_device_tokens_do_not_cross_over() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, client) = app.enrolled_device(&admin, "crossover").await;
    let res = send_readings(&app, &client, &admin, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, "token_invalid".into()));
    let res = send_readings(&app, &client, "", one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await.1, "token_missing");
    let device = device_token(&app, &client).await;
    let t = device["token"].as_str().unwrap();
    assert_eq!(
        error_code(app.get("/api/v1/auth/me", t).await).await,
        (401, "token_invalid".into())
    );
    assert_eq!(
        error_code(app.get("/api/v1/devices", t).await).await.1,
        "token_invalid"
    );
}

#[tokio::test]
async fn bad_batches_are_refused_whole() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "batcher").await;
    let t = device_token(&app, &client).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"sensor": "s", "value": i}))
        .collect();
    let cases = [
        json!({ "readings": too_many }),
        json!({ "readings": [] }),
        json!({ "readings": [{"sensor": "ok", "value": 1}, {"sensor": "bad name!", "value": 2}] }),
        json!({ "readings": [{"sensor": "ok", "value": 1}, {"sensor": "ok", "value": "NaN"}] }),
        json!({ "readings": [{"sensor": "ok", "value": 1, "ts": "not a time"}] }),
        json!({ "readings": [{"sensor": "ok", "value": 1, "ts": "2999-01-01T00:00:00Z"}] }),
        json!({ "nothing": true }),
    ];
    for body in cases {
        let res = send_readings(&app, &client, &t, body.clone())
            .await
            .unwrap();
        let (status, code) = error_code(res).await;
        assert_eq!(code, "validation_failed", "{body:.80}");
        assert!(status == 400 || status == 422);
    }
    let raw = client
        .post(app.south_url("/device/v1/readings"))
        .header("x-access-token", &t)
        .header("content-type", "application/json")
        .body("{\"readings\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(raw).await, (400, "validation_failed".into()));
    let huge = format!(
        "{{\"readings\": [{{\"sensor\": \"{}\", \"value\": 1}}]}}",
        "a".repeat(300 * 1024)
    );
    let res = client
        .post(app.south_url("/device/v1/readings"))
        .header("x-access-token", &t)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (413, "payload_too_large".into()));
    let id = device["id"].as_i64().unwrap();
    let stored: Value = app
        .get(&format!("/api/v1/devices/{id}/readings"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        stored.as_array().unwrap().is_empty(),
        "nothing partial was stored"
    );
}

#[tokio::test]
async fn revoking_a_device_refuses_its_certificate_tokens_and_open_connection() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, cert, client) = app.enrolled_device(&admin, "to-revoke").await;
    let (_, _, bystander) = app.enrolled_device(&admin, "bystander").await;
    let token = device_token(&app, &client).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send_readings(&app, &client, &token, one_reading(1.0))
            .await
            .unwrap()
            .status(),
        202
    );

    let id = device["id"].as_i64().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/devices/{id}/revoke"), &admin, None)
            .await
            .status(),
        204
    );

    // The kept-alive connection is ended or its next request refused.
    match send_readings(&app, &client, &token, one_reading(2.0)).await {
        Ok(res) => assert_eq!(error_code(res).await, (401, "token_revoked".into())),
        Err(e) => assert!(e.is_connect() || e.is_request(), "{e}"),
    }
    // A new connection fails at the handshake.
    handshake_refused(&app, &app.device_client(&cert.cert_pem, &cert.key_pem)).await;
    let shown: Value = app
        .get(&format!("/api/v1/devices/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "revoked");
    let tokens: Value = app
        .get(&format!("/api/v1/tokens?device_id={id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens[0]["blacklist"], true);
    assert_eq!(tokens[0]["blacklist_reason"], "device_revoked");
    // Other devices carry on.
    let t = device_token(&app, &bystander).await;
    assert_eq!(
        send_readings(
            &app,
            &bystander,
            t["token"].as_str().unwrap(),
            one_reading(1.0)
        )
        .await
        .unwrap()
        .status(),
        202
    );
}

#[tokio::test]
async fn a_revoked_device_stays_revoked_after_a_restart() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, cert, _) = app.enrolled_device(&admin, "persist").await;
    app.post(
        &format!("/api/v1/devices/{}/revoke", device["id"]),
        &admin,
        None,
    )
    .await;
    let (settings, data) = (app.settings.clone(), app.data);
    drop(app.app);
    let again = start(settings, data).await;
    handshake_refused(&again, &again.device_client(&cert.cert_pem, &cert.key_pem)).await;
}

#[tokio::test]
async fn revoking_tokens_only_leaves_the_certificate_working() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "tokens-only").await;
    let old = device_token(&app, &client).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = device["id"].as_i64().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/devices/{id}/revoke-tokens"), &admin, None)
            .await
            .status(),
        204
    );
    let res = send_readings(&app, &client, &old, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, "token_revoked".into()));
    let fresh = device_token(&app, &client).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send_readings(&app, &client, &fresh, one_reading(1.0))
            .await
            .unwrap()
            .status(),
        202
    );
}

#[tokio::test]
async fn enrollment_rights_and_conflicts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, operator) = app.user_with_role(&admin, "op", "operator").await;
    let (_, viewer) = app.user_with_role(&admin, "view", "viewer").await;
    let cert = self_signed("c", CertSpec::default());
    let body = json!({"registration_id": "dup", "name": "n", "cert_sha256": cert.thumbprint()});
    assert_eq!(
        error_code(app.enroll(&viewer, body.clone()).await).await,
        (403, "forbidden".into())
    );
    assert_eq!(app.enroll(&operator, body.clone()).await.status(), 201);
    assert_eq!(
        error_code(app.enroll(&operator, body).await).await,
        (409, "conflict".into())
    );
    let same_cert =
        json!({"registration_id": "other", "name": "n", "cert_sha256": cert.thumbprint()});
    assert_eq!(
        error_code(app.enroll(&admin, same_cert).await).await.1,
        "conflict"
    );
    let list: Value = app
        .get("/api/v1/devices", &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(
        error_code(
            app.post(&format!("/api/v1/devices/{id}/revoke"), &operator, None)
                .await
        )
        .await
        .1,
        "forbidden"
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/devices/{id}/revoke-tokens"),
            &operator,
            None
        )
        .await
        .status(),
        204
    );
    for bad in [
        json!({"registration_id": "x", "name": "n"}),
        json!({"registration_id": "x", "name": "n", "cert_sha256": "abc"}),
        json!({"registration_id": "bad id!", "name": "n", "cert_sha256": cert.thumbprint()}),
        json!({"registration_id": "x", "name": "", "cert_sha256": cert.thumbprint()}),
        json!({"registration_id": "x", "name": "n", "cert_sha256": cert.thumbprint(), "csr_pem": "y"}),
    ] {
        assert_eq!(
            error_code(app.enroll(&admin, bad.clone()).await).await.1,
            "validation_failed",
            "{bad}"
        );
    }
    assert_eq!(
        error_code(app.get("/api/v1/devices/999", &admin).await).await,
        (404, "not_found".into())
    );
}

#[tokio::test]
async fn last_seen_is_kept_without_a_write_per_request() {
    let app = spawn_with(|s| s.last_seen_flush = std::time::Duration::from_secs(3600)).await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "seen").await;
    assert!(device["last_seen"].is_null());
    let t = device_token(&app, &client).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    send_readings(&app, &client, &t, one_reading(1.0))
        .await
        .unwrap();
    let id = device["id"].as_i64().unwrap();
    let before: Value = app
        .get(&format!("/api/v1/devices/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(before["last_seen"].is_null(), "not written per request");
    app.app.state().devices.flush_last_seen().await;
    let after: Value = app
        .get(&format!("/api/v1/devices/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(after["last_seen"].is_string());
}

#[tokio::test]
async fn a_token_whose_binding_names_another_certificate_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, cert_a, _) = app.enrolled_device(&admin, "bind-a").await;
    let (dev_b, _, b) = app.enrolled_device(&admin, "bind-b").await;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
    use sha2::Digest;
    let now = now();
    let claims = |x5t: String| {
        json!({
            "iss": "vigil", "aud": "vigil-south", "sub": dev_b["id"].to_string(), "jti": uuid::Uuid::new_v4().simple().to_string(),
            "iat": now, "nbf": now, "exp": now + 600, "typ": "device", "cnf": { "x5t#S256": x5t }
        })
    };
    // Right subject, signed by the server's key, bound to A's certificate.
    let forged = app.sign_with_server_key(&claims(B64.encode(sha2::Sha256::digest(&cert_a.der))));
    let res = send_readings(&app, &b, &forged, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, "token_invalid".into()));
    let res = send_readings(
        &app,
        &b,
        &app.sign_with_server_key(&{
            let mut c = claims(String::new());
            c.as_object_mut().unwrap().remove("cnf");
            c
        }),
        one_reading(1.0),
    )
    .await
    .unwrap();
    assert_eq!(
        error_code(res).await.1,
        "token_invalid",
        "a device token without a binding"
    );
}

#[tokio::test]
async fn an_open_connection_is_closed_when_its_device_is_revoked_and_cannot_resume() {
    use std::{sync::Arc, time::Duration};

    use rustls::{ClientConfig, RootCertStore};
    use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, cert, _) = app.enrolled_device(&admin, "held-open").await;
    let mut roots = RootCertStore::empty();
    let ca = std::fs::read(app.data_path().join("pki/platform-ca.pem")).unwrap();
    roots
        .add(CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    let config = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from(cert.der.clone())],
                PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
    );
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(app.app.device_addr())
            .await
            .unwrap();
        tokio_rustls::TlsConnector::from(config.clone())
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
    };
    let mut tls = connect().await.expect("handshake");
    tls.write_all(b"POST /device/v1/token HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    // Idle, kept alive; the revocation must end it without another request.
    let id = device["id"].as_i64().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/devices/{id}/revoke"), &admin, None)
            .await
            .status(),
        204
    );
    let read = tokio::time::timeout(Duration::from_secs(2), tls.read(&mut buf))
        .await
        .expect("closed within 2 s");
    assert!(matches!(read, Ok(0) | Err(_)), "the connection ended");

    // The same client config (which would offer a resumption ticket) fails.
    let again = connect().await;
    if let Ok(mut t) = again {
        let _ = t
            .write_all(b"POST /device/v1/token HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
            .await;
        let got = t.read(&mut buf).await;
        assert!(
            matches!(got, Ok(0) | Err(_)),
            "no answer for a revoked device"
        );
    }
}

#[tokio::test]
async fn devices_show_the_newest_value_of_each_sensor() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "latest").await;
    let t = device_token(&app, &client).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "readings": [
        { "sensor": "temperature", "value": 20.0, "unit": "C", "ts": "2026-11-22T10:02:00Z" },
        { "sensor": "temperature", "value": 19.0, "unit": "C", "ts": "2026-11-22T10:00:00Z" },
        { "sensor": "humidity", "value": 40 }
    ]});
    assert_eq!(
        send_readings(&app, &client, &t, body)
            .await
            .unwrap()
            .status(),
        202
    );
    // An older reading arriving later does not replace the newest.
    let late = json!({ "readings": [{ "sensor": "temperature", "value": 5.0, "ts": "2026-11-22T09:00:00Z" }] });
    assert_eq!(
        send_readings(&app, &client, &t, late)
            .await
            .unwrap()
            .status(),
        202
    );
    let list: Value = app
        .get("/api/v1/devices", &admin)
        .await
        .json()
        .await
        .unwrap();
    let latest = list[0]["latest"].as_array().unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[0]["sensor"], "humidity");
    assert_eq!(latest[1]["sensor"], "temperature");
    assert_eq!(latest[1]["value"], 20.0);
    assert_eq!(latest[1]["ts"], "2026-11-22T10:02:00.000Z");
    let one: Value = app
        .get(&format!("/api/v1/devices/{}", device["id"]), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["latest"], list[0]["latest"]);
}

#[tokio::test]
async fn reading_queries_and_oversized_csrs_are_refused_as_client_errors() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, _) = app.enrolled_device(&admin, "queried").await;
    let id = device["id"].as_i64().unwrap();
    let long = "s".repeat(65);
    for q in [
        "limit=0",
        "limit=1001",
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        &format!("sensor={long}"),
    ] {
        let res = app
            .get(&format!("/api/v1/devices/{id}/readings?{q}"), &admin)
            .await;
        assert_eq!(
            error_code(res).await,
            (400, "validation_failed".into()),
            "{q}"
        );
    }
    assert_eq!(
        error_code(app.get("/api/v1/devices/999/readings", &admin).await)
            .await
            .1,
        "not_found"
    );
    assert_eq!(
        error_code(app.get("/api/v1/live?device_id=x", &admin).await)
            .await
            .1,
        "validation_failed"
    );
    let (csr_pem, _) = csr("big");
    let padded = format!("{}{csr_pem}", "\n".repeat(17 * 1024));
    let res = app
        .enroll(
            &admin,
            json!({"registration_id": "big", "name": "n", "csr_pem": padded}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "validation_failed");
    assert!(
        body["message"].as_str().unwrap().contains("too large"),
        "{body}"
    );
}
