//! `GET /pki/device-ca.crl`: the device CA's revocation list, checked with
//! OpenSSL (a verifier no one here wrote).

use app::types::EnrollRequest;
use x509_parser::{prelude::FromDer, revocation_list::CertificateRevocationList};

use crate::{device_helpers::*, helpers::*};

/// The certificate's serial as OpenSSL prints it (upper-case hex).
fn serial(cert_pem: &str) -> String {
    let der = pem::parse(cert_pem).unwrap().into_contents();
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
    hex::encode_upper(cert.raw_serial())
}

/// `openssl crl` on the list, checking its signature with the device CA:
/// whether it verified, and the text it printed.
fn openssl_crl(app: &TestApp, der: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device-ca.crl");
    std::fs::write(&path, der).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&path)
        .arg("-CAfile")
        .arg(app.data_path().join("pki/device-ca.pem"))
        .output()
        .expect("openssl runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.success() && stderr.contains("verify OK"),
        format!("{stderr}{}", String::from_utf8_lossy(&out.stdout)),
    )
}

#[tokio::test]
async fn the_crl_lists_the_revoked_certificates_the_device_ca_issued_and_verifies() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut issued = Vec::new();
    for rid in ["crl-kept", "crl-gone"] {
        let (csr_pem, _) = csr(rid);
        let enrolled = app
            .enroll(
                &admin,
                &EnrollRequest {
                    registration_id: rid.to_owned(),
                    name: rid.to_owned(),
                    csr_pem: Some(csr_pem),
                    ..Default::default()
                },
            )
            .await;
        let cert = enrolled.certificate_pem.unwrap();
        issued.push((enrolled.device.id, serial(&cert)));
    }
    let [(_, kept), (gone_id, gone)] = &issued[..] else {
        unreachable!()
    };
    // A self-signed device: not the CA's to list.
    let (own, own_cert, _) = app.enrolled_device(&admin, "crl-self").await;
    let own_serial = hex::encode_upper(
        x509_parser::certificate::X509Certificate::from_der(&own_cert.der)
            .unwrap()
            .1
            .raw_serial(),
    );
    for id in [*gone_id, own.id] {
        let res = app
            .post(&format!("/api/v1/devices/{id}/revoke"), &admin, None)
            .await;
        assert_eq!(res.status(), 204);
    }

    // No token needed.
    let res = app
        .client
        .get(app.url("/pki/device-ca.crl"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pkix-crl");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let der = res.bytes().await.unwrap().to_vec();
    let (verified, text) = openssl_crl(&app, &der);
    assert!(verified, "{text}");
    assert!(text.contains(&format!("Serial Number: {gone}")), "{text}");
    assert!(!text.contains(kept.as_str()), "{text}");
    assert!(!text.contains(&own_serial), "{text}");
    let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
    assert_eq!(crl.iter_revoked_certificates().count(), 1);
    let next = crl.next_update().expect("a nextUpdate").timestamp();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(next > now + 3600, "valid for a while yet");
    let number = crl.crl_number().expect("a CRL number").clone();

    // Tampered with, it no longer verifies.
    let mut broken = der.clone();
    let n = broken.len();
    broken[n - 5] ^= 0x5a;
    assert!(!openssl_crl(&app, &broken).0);

    // A later list has a larger number.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = app
        .client
        .get(app.url("/pki/device-ca.crl"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (_, later) = CertificateRevocationList::from_der(&again).unwrap();
    assert!(later.crl_number().unwrap() > &number);
}
