//! Who may enroll, what conflicts, and what the device CA signs.

use app::types::{EnrollRequest, Enrollment, ErrorCode, Role};
use serde_json::json;

use super::one_reading;
use crate::{device_helpers::*, helpers::*};

#[tokio::test]
async fn a_csr_is_signed_by_the_device_ca_and_the_certificate_works() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (csr_pem, key_pem) = csr("whatever-the-device-asks");
    let enrolled = app
        .enroll(
            &admin,
            &EnrollRequest {
                registration_id: "csr-dev".to_owned(),
                name: "CSR device".to_owned(),
                csr_pem: Some(csr_pem),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(enrolled.device.enrollment, Enrollment::CaIssued);
    let cert_pem = enrolled.certificate_pem.as_deref().unwrap();
    let client = app.device_client(cert_pem, &key_pem);
    let token = device_token(&app, &client).await;
    let res = send_readings(&app, &client, &token.token, one_reading(1.0))
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
        .try_enroll(
            &admin,
            &json!({"registration_id": "bad-csr", "name": "x", "csr_pem": broken}),
        )
        .await;
    assert_eq!(error_code(res).await, (422, ErrorCode::ValidationFailed));
    assert!(app.devices(&admin).await.is_empty(), "nothing enrolled");
}

/// PEM is ASCII text (RFC 7468) of at most 16 KiB, as the OpenAPI document
/// says: text around the block that is not ASCII is refused too, even
/// though a PEM reader would skip it, and the largest CSR the document
/// allows, sent in its longest escaped form, still fits a request body (a
/// 422 with the reason, never a 413).
#[tokio::test]
async fn a_csr_is_ascii_pem_of_at_most_16_kib() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (csr_pem, _) = csr("ascii");
    let cases = [
        format!("Subject: Zürich\n{csr_pem}"),
        "\"".repeat(16 * 1024),
        "A".repeat(16 * 1024 + 1),
    ];
    for (i, text) in cases.iter().enumerate() {
        let res = app
            .try_enroll(
                &admin,
                &json!({"registration_id": format!("ascii-{i}"), "name": "x", "csr_pem": text}),
            )
            .await;
        assert_eq!(
            error_code(res).await,
            (422, ErrorCode::ValidationFailed),
            "case {i}"
        );
    }
    assert!(app.devices(&admin).await.is_empty(), "nothing enrolled");
    let res = app
        .try_enroll(
            &admin,
            &json!({"registration_id": "ascii-ok", "name": "x", "csr_pem": csr_pem}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn enrollment_rights_and_conflicts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, operator) = app.user_with_role(&admin, "op", Role::Operator).await;
    let (_, viewer) = app.user_with_role(&admin, "view", Role::Viewer).await;
    let cert = self_signed("c", CertSpec::default());
    let body = json!({"registration_id": "dup", "name": "n", "cert_sha256": cert.thumbprint()});
    assert_eq!(
        error_code(app.try_enroll(&viewer, &body).await).await,
        (403, ErrorCode::Forbidden)
    );
    assert_eq!(app.try_enroll(&operator, &body).await.status(), 201);
    assert_eq!(
        error_code(app.try_enroll(&operator, &body).await).await,
        (409, ErrorCode::Conflict)
    );
    let same_cert =
        json!({"registration_id": "other", "name": "n", "cert_sha256": cert.thumbprint()});
    assert_eq!(
        error_code(app.try_enroll(&admin, &same_cert).await).await.1,
        ErrorCode::Conflict
    );
    let list = app.devices(&viewer).await;
    assert_eq!(list.len(), 1);
    let id = list[0].id;
    assert_eq!(
        error_code(
            app.post(&format!("/api/v1/devices/{id}/revoke"), &operator, None)
                .await
        )
        .await
        .1,
        ErrorCode::Forbidden
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
            error_code(app.try_enroll(&admin, &bad).await).await.1,
            ErrorCode::ValidationFailed,
            "{bad}"
        );
    }
    assert_eq!(
        error_code(app.get("/api/v1/devices/999", &admin).await).await,
        (404, ErrorCode::NotFound)
    );
}
