//! Handshakes: only enrolled, valid client certificates get in, the key must
//! be the certificate's, and a revoked device cannot resume a session.

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::handshake_refused;
use crate::{device_helpers::*, helpers::*};

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
            .try_enroll(
                &admin,
                &json!({"registration_id": name, "name": name, "cert_sha256": cert.thumbprint()}),
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
    let id = device.id;
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
