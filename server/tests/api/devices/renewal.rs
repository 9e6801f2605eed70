//! Certificate renewal from a CSR over mutual TLS, the overlap of the old
//! certificate, second thumbprints for self-signed devices, retirement.

use app::types::{Device, DeviceCertificate, EnrollRequest, ErrorCode, RenewResponse, TokenInfo};
use serde_json::json;
use x509_parser::{prelude::FromDer, revocation_list::CertificateRevocationList};

use super::{handshake_refused, one_reading};
use crate::{device_helpers::*, helpers::*};

/// A device whose certificate the device CA signed: its certificate,
/// client and token.
async fn ca_issued(
    app: &TestApp,
    admin: &str,
    rid: &str,
) -> (Device, DeviceCert, reqwest::Client, String) {
    let (csr_pem, key_pem) = csr(rid);
    let enrolled = app
        .enroll(
            admin,
            &EnrollRequest {
                registration_id: rid.into(),
                name: rid.into(),
                csr_pem: Some(csr_pem),
                ..Default::default()
            },
        )
        .await;
    let cert_pem = enrolled.certificate_pem.unwrap();
    let der = pem::parse(&cert_pem).unwrap().into_contents();
    let cert = DeviceCert {
        cert_pem,
        key_pem,
        der,
    };
    let client = app.device_client(&cert.cert_pem, &cert.key_pem);
    let token = device_token(app, &client).await.token;
    (enrolled.device, cert, client, token)
}

async fn renew(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    csr_pem: &str,
) -> reqwest::Response {
    client
        .post(app.south_url("/device/v1/certificate"))
        .header("x-access-token", token)
        .json(&json!({ "csr_pem": csr_pem }))
        .send()
        .await
        .unwrap()
}

async fn certificates(app: &TestApp, admin: &str, id: i64) -> Vec<DeviceCertificate> {
    let res = app
        .get(&format!("/api/v1/devices/{id}/certificates"), admin)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn token_reason(app: &TestApp, admin: &str, device: i64, token: &str) -> Option<String> {
    let id = jsonwebtoken::dangerous_insecure_decode_claims(token);
    let tokens: Vec<TokenInfo> = app
        .get(&format!("/api/v1/tokens?device_id={device}"), admin)
        .await
        .json()
        .await
        .unwrap();
    tokens
        .into_iter()
        .find(|t| t.token_id == id)
        .and_then(|t| t.blacklist_reason.map(|r| r.to_string()))
}

mod jsonwebtoken {
    /// A token's `jti`, read without checking it (tests only).
    pub fn dangerous_insecure_decode_claims(token: &str) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        let claims = token.split('.').nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&B64.decode(claims).unwrap()).unwrap();
        v["jti"].as_str().unwrap().to_owned()
    }
}

fn serial_of(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    cert.raw_serial().to_vec()
}

#[tokio::test]
async fn a_renewed_certificate_replaces_the_old_one_at_its_first_use() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, old, old_client, old_token) = ca_issued(&app, &admin, "renew-1").await;

    // Refused: no token, a broken CSR, a CSR asking to be a CA.
    let (csr_pem, new_key) = csr("whatever-it-asks");
    let res = old_client
        .post(app.south_url("/device/v1/certificate"))
        .json(&json!({ "csr_pem": csr_pem }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let mut broken = pem::parse(&csr_pem).unwrap().into_contents();
    let n = broken.len();
    broken[n - 3] ^= 0x01;
    let broken = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", broken));
    let (status, code) = error_code(renew(&app, &old_client, &old_token, &broken).await).await;
    assert_eq!((status, code), (422, ErrorCode::ValidationFailed));
    let ca_csr = {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.serialize_request(&key).unwrap().pem().unwrap()
    };
    assert_eq!(
        renew(&app, &old_client, &old_token, &ca_csr).await.status(),
        422
    );

    // Renewed: the same registration id, whatever the CSR asked.
    let res = renew(&app, &old_client, &old_token, &csr_pem).await;
    assert_eq!(res.status(), 201);
    let renewed: RenewResponse = res.json().await.unwrap();
    let new_der = pem::parse(&renewed.certificate_pem)
        .unwrap()
        .into_contents();
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(&new_der).unwrap();
    assert_eq!(parsed.subject().to_string(), "CN=renew-1");
    let new = DeviceCert {
        cert_pem: renewed.certificate_pem.clone(),
        key_pem: new_key,
        der: new_der,
    };
    let listed = certificates(&app, &admin, device.id).await;
    assert_eq!(listed.len(), 2);
    assert!(listed[0].primary && listed[0].cert_sha256 == new.thumbprint());
    assert_eq!(listed[0].status, "active");
    assert_eq!(listed[1].status, "retiring");

    // Until the new one is used, the old one works: token and readings.
    let res = send_readings(&app, &old_client, &old_token, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // An MQTT session over the old certificate, to be ended.
    let (_c, mut el) = crate::mqtt::v5_client(&app, &old, "renew-1", &old_token);
    crate::mqtt::until_v5(&mut el, |p| {
        matches!(p, crate::mqtt::v5::Packet::ConnAck(_))
    })
    .await
    .expect("connected over the old certificate");

    // The first use of the new one retires the old one at once.
    let new_client = app.device_client(&new.cert_pem, &new.key_pem);
    let new_token = device_token(&app, &new_client).await.token;
    // Refused at the handshake (a new connection), soon.
    let took = held_since(std::time::Instant::now(), || async {
        app.device_client(&old.cert_pem, &old.key_pem)
            .post(app.south_url("/device/v1/token"))
            .send()
            .await
            .is_err()
    })
    .await;
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    // And on the connection it had open.
    let res = old_client
        .post(app.south_url("/device/v1/token"))
        .send()
        .await;
    assert!(res.map_or(true, |r| r.status() == 401));
    // The MQTT session over the old certificate ends: a DISCONNECT, or
    // the connection closed (`until_v5` fails the test after 5 s of
    // neither).
    let ended = crate::mqtt::until_v5(&mut el, |p| {
        matches!(p, crate::mqtt::v5::Packet::Disconnect(_))
    })
    .await;
    assert!(ended.map_or(true, |p| matches!(
        p,
        crate::mqtt::v5::Packet::Disconnect(_)
    )));
    // Its tokens are revoked by the same background step, right after.
    let took = held_since(std::time::Instant::now(), || async {
        token_reason(&app, &admin, device.id, &old_token)
            .await
            .as_deref()
            == Some("certificate_retired")
    })
    .await;
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    let res = send_readings(&app, &new_client, &new_token, one_reading(2.0))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let shown: Device = app
        .get(&format!("/api/v1/devices/{}", device.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.cert_sha256, new.thumbprint());
    let listed = certificates(&app, &admin, device.id).await;
    assert_eq!(listed[1].status, "retired");

    // The replaced certificate is in the device CA's CRL; the new is not.
    let der = app
        .client
        .get(app.url("/pki/device-ca.crl"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
    let listed: Vec<Vec<u8>> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect();
    assert!(listed.contains(&serial_of(&old.der)));
    assert!(!listed.contains(&serial_of(&new.der)));
}

#[tokio::test]
async fn an_unused_renewal_leaves_the_old_certificate_working_until_the_overlap_ends() {
    let app = spawn_with(|s| s.cert_overlap = std::time::Duration::from_secs(2)).await;
    let admin = app.admin_token().await;
    let (device, old, old_client, old_token) = ca_issued(&app, &admin, "renew-2").await;
    let (csr_pem, _) = csr("renew-2");
    assert_eq!(
        renew(&app, &old_client, &old_token, &csr_pem)
            .await
            .status(),
        201
    );
    let res = send_readings(&app, &old_client, &old_token, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // Past the overlap: refused at the handshake, and its token revoked.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    handshake_refused(&app, &app.device_client(&old.cert_pem, &old.key_pem)).await;
    let took = held_since(std::time::Instant::now(), || async {
        token_reason(&app, &admin, device.id, &old_token)
            .await
            .as_deref()
            == Some("certificate_retired")
    })
    .await;
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
}

#[tokio::test]
async fn a_self_signed_device_takes_a_second_thumbprint_and_retires_the_first() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, first, first_client) = app.enrolled_device(&admin, "twin-1").await;
    let first_token = device_token(&app, &first_client).await.token;
    let second = self_signed("twin-1", CertSpec::default());
    let path = format!("/api/v1/devices/{}/certificates", device.id);

    // Refused: a viewer, a bad thumbprint, one already a device's.
    let (_, viewer) = app
        .user_with_role(&admin, "twin-viewer", app::types::Role::Viewer)
        .await;
    let add = |token: &str, sha: &str| {
        let (token, body) = (token.to_owned(), json!({ "cert_sha256": sha }));
        let (app, path) = (&app, path.clone());
        async move { app.post(&path, &token, Some(body)).await }
    };
    assert_eq!(add(&viewer, &second.thumbprint()).await.status(), 403);
    assert_eq!(add(&admin, "abc").await.status(), 422);
    assert_eq!(add(&admin, &first.thumbprint()).await.status(), 409);
    let (_, other, _) = app.enrolled_device(&admin, "twin-other").await;
    assert_eq!(add(&admin, &other.thumbprint()).await.status(), 409);

    let res = add(&admin, &second.thumbprint()).await;
    assert_eq!(res.status(), 201);
    let added: DeviceCertificate = res.json().await.unwrap();
    assert_eq!(added.status, "active");
    let second_client = app.device_client(&second.cert_pem, &second.key_pem);
    let second_token = device_token(&app, &second_client).await.token;
    let res = send_readings(&app, &first_client, &first_token, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "both work");

    // Retire the first: refused, its token revoked, its open connection
    // ended; the second is now the device's certificate.
    let res = app
        .delete(&format!("{path}/{}", first.thumbprint()), &admin)
        .await;
    assert_eq!(res.status(), 204);
    let res = send_readings(&app, &first_client, &first_token, one_reading(1.0)).await;
    assert!(res.map_or(true, |r| r.status() == 401));
    handshake_refused(&app, &app.device_client(&first.cert_pem, &first.key_pem)).await;
    assert_eq!(
        token_reason(&app, &admin, device.id, &first_token)
            .await
            .as_deref(),
        Some("certificate_retired")
    );
    let res = send_readings(&app, &second_client, &second_token, one_reading(2.0))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let shown: Device = app
        .get(&format!("/api/v1/devices/{}", device.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.cert_sha256, second.thumbprint());

    // What is not a thumbprint names no certificate.
    assert_eq!(
        app.delete(&format!("{path}/xyz"), &admin).await.status(),
        404
    );
    // The last one stays.
    let (status, code) = error_code(
        app.delete(&format!("{path}/{}", second.thumbprint()), &admin)
            .await,
    )
    .await;
    assert_eq!((status, code), (409, ErrorCode::Conflict));
    // Bounded: at most five at once.
    for i in 0..4 {
        let c = self_signed(&format!("twin-extra-{i}"), CertSpec::default());
        assert_eq!(add(&admin, &c.thumbprint()).await.status(), 201);
    }
    let c = self_signed("twin-extra-5", CertSpec::default());
    assert_eq!(add(&admin, &c.thumbprint()).await.status(), 409);
    // A device the CA issued takes no thumbprint.
    let (ca_device, ..) = ca_issued(&app, &admin, "twin-ca").await;
    let res = app
        .post(
            &format!("/api/v1/devices/{}/certificates", ca_device.id),
            &admin,
            Some(json!({ "cert_sha256": c.thumbprint() })),
        )
        .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn devices_whose_certificate_expires_soon_are_listed() {
    let app = spawn_with(|s| s.device_cert_days = 10).await;
    let admin = app.admin_token().await;
    let (soon, ..) = ca_issued(&app, &admin, "exp-soon").await;
    // Self-signed, valid 30 days: its end is known once it is first used.
    let (own, _, own_client) = app.enrolled_device(&admin, "exp-self").await;
    let expiring = |within: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let res = app
                .get(&format!("/api/v1/devices?expiring_within={within}"), &admin)
                .await;
            assert_eq!(res.status(), 200);
            let listed: Vec<Device> = res.json().await.unwrap();
            listed.into_iter().map(|d| d.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(expiring("30d").await, [soon.id]);
    assert!(expiring("5d").await.is_empty());
    device_token(&app, &own_client).await;
    let took = held_since(std::time::Instant::now(), || async {
        expiring("31d").await == [soon.id, own.id]
    })
    .await;
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    assert_eq!(expiring("29d").await, [soon.id]);
    let res = app
        .get("/api/v1/devices?expiring_within=soon", &admin)
        .await;
    assert_eq!(res.status(), 400);
    // A revoked device is not a renewal to plan.
    app.post(&format!("/api/v1/devices/{}/revoke", soon.id), &admin, None)
        .await;
    assert_eq!(expiring("31d").await, [own.id]);
}

#[tokio::test]
async fn a_renewal_whose_answer_was_lost_is_replaced_and_renewals_are_bounded() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client, token) = ca_issued(&app, &admin, "renew-lost").await;
    // The first answer is "lost": the device renews again from the same
    // certificate.
    let (lost_csr, lost_key) = csr("renew-lost");
    let res = renew(&app, &client, &token, &lost_csr).await;
    let lost: RenewResponse = res.json().await.unwrap();
    let (csr_pem, _) = csr("renew-lost");
    assert_eq!(renew(&app, &client, &token, &csr_pem).await.status(), 201);
    handshake_refused(&app, &app.device_client(&lost.certificate_pem, &lost_key)).await;
    let listed = certificates(&app, &admin, device.id).await;
    let lost_der = pem::parse(&lost.certificate_pem).unwrap().into_contents();
    let lost_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&lost_der));
    let shown = listed.iter().find(|c| c.cert_sha256 == lost_sha).unwrap();
    assert_eq!(shown.status, "retired");
    // Ten new certificates a day at most (the enrolled one among them).
    let mut statuses = Vec::new();
    for _ in 0..9 {
        let (csr_pem, _) = csr("renew-lost");
        statuses.push(
            renew(&app, &client, &token, &csr_pem)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        7,
        "{statuses:?}"
    );
    let (status, code) = error_code(renew(&app, &client, &token, &csr_pem).await).await;
    assert_eq!((status, code), (429, ErrorCode::RateLimited));
}
