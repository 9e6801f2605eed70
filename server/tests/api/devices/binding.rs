//! Device tokens are bound to their certificate, and user and device tokens
//! are not interchangeable.

use app::types::ErrorCode;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::one_reading;
use crate::{device_helpers::*, helpers::*};

#[tokio::test]
async fn a_token_is_bound_to_its_own_certificate() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, a) = app.enrolled_device(&admin, "dev-a").await;
    let (_, _, b) = app.enrolled_device(&admin, "dev-b").await;
    let token_a = device_token(&app, &a).await;
    let res = send_readings(&app, &b, &token_a.token, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenInvalid));
    let res = send_readings(&app, &a, &token_a.token, one_reading(1.0))
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
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenInvalid));
    let res = send_readings(&app, &client, "", one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await.1, ErrorCode::TokenMissing);
    let device = device_token(&app, &client).await;
    let t = &device.token;
    assert_eq!(
        error_code(app.get("/api/v1/auth/me", t).await).await,
        (401, ErrorCode::TokenInvalid)
    );
    assert_eq!(
        error_code(app.get("/api/v1/devices", t).await).await.1,
        ErrorCode::TokenInvalid
    );
}

#[tokio::test]
async fn a_token_whose_binding_names_another_certificate_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, cert_a, _) = app.enrolled_device(&admin, "bind-a").await;
    let (dev_b, _, b) = app.enrolled_device(&admin, "bind-b").await;
    let now = now();
    let claims = |x5t: String| {
        json!({
            "iss": "vigil", "aud": "vigil-south", "sub": dev_b.id.to_string(), "jti": uuid::Uuid::new_v4().simple().to_string(),
            "iat": now, "nbf": now, "exp": now + 600, "typ": "device", "cnf": { "x5t#S256": x5t }
        })
    };
    // Right subject, signed by the server's key, bound to A's certificate.
    let forged = app.sign_with_server_key(&claims(B64.encode(Sha256::digest(&cert_a.der))));
    let res = send_readings(&app, &b, &forged, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenInvalid));
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
        ErrorCode::TokenInvalid,
        "a device token without a binding"
    );
}
