//! `GET /api/v1/security/overview`: the security signals, for admins only.

use app::types::{ErrorCode, SecurityOverview};
use serde_json::json;

use crate::{device_helpers::*, devices::groups::TestCa, helpers::*};

#[tokio::test]
async fn the_security_overview_counts_what_happened_and_is_for_admins_only() {
    let app = spawn_with(|s| s.device_cert_days = 10).await;
    let admin = app.admin_token().await;
    let (_, viewer) = app
        .user_with_role(&admin, "overview-viewer", app::types::Role::Viewer)
        .await;
    let (status, code) = error_code(app.get("/api/v1/security/overview", &viewer).await).await;
    assert_eq!((status, code), (403, ErrorCode::Forbidden));

    // Two failed logins, a revoked token, a device whose certificate
    // expires in 10 days, a group at 4 of 5.
    for _ in 0..2 {
        assert_eq!(
            app.login("admin", "wrong password, twice").await.status(),
            401
        );
    }
    let extra = app.session("admin", &app.admin_password).await;
    let res = app
        .post(
            &format!("/api/v1/tokens/{}/revoke", extra.token_id),
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let (csr_pem, _) = csr("overview-soon");
    let soon = app
        .enroll(
            &admin,
            &app::types::EnrollRequest {
                registration_id: "overview-soon".into(),
                name: "soon".into(),
                csr_pem: Some(csr_pem),
                ..Default::default()
            },
        )
        .await
        .device;
    // A device with a token, its certificate valid 90 days.
    let cert = self_signed(
        "overview-token",
        CertSpec {
            not_after: time::OffsetDateTime::now_utc() + time::Duration::days(90),
            ..Default::default()
        },
    );
    app.enroll(
        &admin,
        &app::types::EnrollRequest {
            registration_id: "overview-token".into(),
            name: "token".into(),
            cert_sha256: Some(cert.thumbprint()),
            ..Default::default()
        },
    )
    .await;
    let client = app.device_client(&cert.cert_pem, &cert.key_pem);
    device_token(&app, &client).await;
    let ca = TestCa::root("Overview CA");
    let group = app
        .active_group(
            &admin,
            &ca,
            json!({"max_devices": 5, "name": "nearly full"}),
        )
        .await;
    for i in 0..4 {
        // Valid 90 days: not among the certificates about to expire.
        let cert = ca.sign(&format!("ov-{i}"), |p| {
            p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(90)
        });
        assert_eq!(app.register(&cert, "").await.unwrap().0, 201);
    }

    let res = app.get("/api/v1/security/overview", &admin).await;
    assert_eq!(res.status(), 200);
    let o: SecurityOverview = res.json().await.unwrap();
    assert_eq!(o.failed_logins_24h, 2);
    assert!(o.active_tokens.users >= 2, "{o:?}");
    assert_eq!(o.active_tokens.devices, 1);
    assert_eq!(o.revoked_tokens_24h, 1);
    assert!(o
        .recent_revocations
        .iter()
        .any(|e| e.event == app::types::AuditEvent::TokenRevoked));
    assert_eq!(
        o.expiring_certificates
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [soon.id]
    );
    assert_eq!(o.expiring_count, 1);
    assert_eq!(o.groups_near_limit.len(), 1);
    assert_eq!(o.groups_near_limit[0].id, group.id);
    assert_eq!(o.signing_key, app.app.state().tokens.kid());
}
