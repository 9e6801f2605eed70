//! Revoking a device or only its tokens: certificates, tokens and open
//! connections refused, and still so after a restart.

use app::types::{Device, DeviceStatus, ErrorCode, RevocationReason, TokenInfo};

use super::{handshake_refused, one_reading};
use crate::{device_helpers::*, helpers::*};

#[tokio::test]
async fn revoking_a_device_refuses_its_certificate_tokens_and_open_connection() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, cert, client) = app.enrolled_device(&admin, "to-revoke").await;
    let (_, _, bystander) = app.enrolled_device(&admin, "bystander").await;
    let token = device_token(&app, &client).await.token;
    assert_eq!(
        send_readings(&app, &client, &token, one_reading(1.0))
            .await
            .unwrap()
            .status(),
        202
    );

    let id = device.id;
    assert_eq!(
        app.post(&format!("/api/v1/devices/{id}/revoke"), &admin, None)
            .await
            .status(),
        204
    );

    // The kept-alive connection is ended or its next request refused.
    match send_readings(&app, &client, &token, one_reading(2.0)).await {
        Ok(res) => assert_eq!(error_code(res).await, (401, ErrorCode::TokenRevoked)),
        Err(e) => assert!(e.is_connect() || e.is_request(), "{e}"),
    }
    // A new connection fails at the handshake.
    handshake_refused(&app, &app.device_client(&cert.cert_pem, &cert.key_pem)).await;
    let shown: Device = app
        .get(&format!("/api/v1/devices/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.status, DeviceStatus::Revoked);
    let tokens: Vec<TokenInfo> = app
        .get(&format!("/api/v1/tokens?device_id={id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(tokens[0].blacklist);
    assert_eq!(
        tokens[0].blacklist_reason,
        Some(RevocationReason::DeviceRevoked)
    );
    // Other devices carry on.
    let t = device_token(&app, &bystander).await;
    assert_eq!(
        send_readings(&app, &bystander, &t.token, one_reading(1.0))
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
        &format!("/api/v1/devices/{}/revoke", device.id),
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
    let old = device_token(&app, &client).await.token;
    let id = device.id;
    assert_eq!(
        app.post(&format!("/api/v1/devices/{id}/revoke-tokens"), &admin, None)
            .await
            .status(),
        204
    );
    let res = send_readings(&app, &client, &old, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenRevoked));
    let fresh = device_token(&app, &client).await.token;
    assert_eq!(
        send_readings(&app, &client, &fresh, one_reading(1.0))
            .await
            .unwrap()
            .status(),
        202
    );
}
