//! Every check of the gateway, each with a request that tries to get past it.

use app::types::{ErrorCode, Role};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use serde_json::{json, Value};

use crate::helpers::*;

/// The status of `/auth/me` with this token, and the error code unless 200.
async fn me_with(app: &TestApp, token: &str) -> (u16, Option<ErrorCode>) {
    let res = app.get("/api/v1/auth/me", token).await;
    if res.status() == 200 {
        return (200, None);
    }
    let (status, code) = error_code(res).await;
    (status, Some(code))
}

fn b64(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn no_token_is_token_missing() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenMissing));
}

#[tokio::test]
async fn a_token_in_the_url_is_ignored() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let url = app.url(&format!(
        "/api/v1/auth/me?token={token}&access_token={token}"
    ));
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(error_code(res).await.1, ErrorCode::TokenMissing);
}

#[tokio::test]
async fn authorization_bearer_is_accepted_like_x_access_token() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let basic = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .basic_auth("admin", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(basic).await.1, ErrorCode::TokenMissing);
}

#[tokio::test]
async fn garbage_is_token_invalid() {
    let app = spawn_app().await;
    for t in ["garbage", "a.b.c", "....", &"x".repeat(10_000)] {
        assert_eq!(
            me_with(&app, t).await,
            (401, Some(ErrorCode::TokenInvalid)),
            "{t:.20}"
        );
    }
}

#[tokio::test]
async fn alg_none_is_token_invalid() {
    let app = spawn_app().await;
    let kid = app.app.state().tokens.kid().to_owned();
    let token = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT", "kid": kid })),
        b64(&user_claims())
    );
    assert_eq!(me_with(&app, &token).await.1, Some(ErrorCode::TokenInvalid));
}

#[tokio::test]
async fn hs256_forged_with_the_public_key_as_secret_is_token_invalid() {
    let app = spawn_app().await;
    let real = app.admin_token().await;
    let kid = app.app.state().tokens.kid().to_owned();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    for secret in [real.as_bytes(), b"secret".as_slice(), b"".as_slice()] {
        let forged = jsonwebtoken::encode(
            &header,
            &user_claims(),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(
            me_with(&app, &forged).await.1,
            Some(ErrorCode::TokenInvalid)
        );
    }
}

#[tokio::test]
async fn a_tampered_payload_is_token_invalid() {
    let app = spawn_app().await;
    let (_, viewer) = app
        .user_with_role(&app.admin_token().await, "vera", Role::Viewer)
        .await;
    let parts: Vec<&str> = viewer.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_eq!(
        me_with(&app, &tampered).await.1,
        Some(ErrorCode::TokenInvalid)
    );
    assert_eq!(app.get("/api/v1/users", &tampered).await.status(), 401);
}

#[tokio::test]
async fn another_keys_signature_is_token_invalid() {
    let app = spawn_app().await;
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(app.app.state().tokens.kid().to_owned());
    let key = jsonwebtoken::EncodingKey::from_ed_pem(other.serialize_pem().as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&header, &user_claims(), &key).unwrap();
    assert_eq!(
        me_with(&app, &forged).await.1,
        Some(ErrorCode::TokenInvalid)
    );
}

#[tokio::test]
async fn correctly_signed_claims_are_still_checked() {
    let app = spawn_app().await;
    let good = app.sign_with_server_key(&user_claims());
    assert_eq!(me_with(&app, &good).await.0, 200, "the control case passes");

    let cases: Vec<(&str, Box<dyn Fn(&mut Value)>)> = vec![
        ("wrong iss", Box::new(|c| c["iss"] = json!("evil"))),
        ("wrong aud", Box::new(|c| c["aud"] = json!("vigil-south"))),
        ("device typ", Box::new(|c| c["typ"] = json!("device"))),
        ("unknown typ", Box::new(|c| c["typ"] = json!("admin"))),
        (
            "no iss",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("iss"))),
        ),
        (
            "no aud",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        (
            "no typ",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("typ"))),
        ),
        (
            "no nbf",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("nbf"))),
        ),
        (
            "no exp",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "no jti",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("jti"))),
        ),
        (
            "no role",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("role"))),
        ),
        ("unknown role", Box::new(|c| c["role"] = json!("root"))),
        ("sub not an id", Box::new(|c| c["sub"] = json!("admin"))),
        (
            "nbf in the future",
            Box::new(|c| c["nbf"] = json!(now() + 60)),
        ),
    ];
    for (name, alter) in cases {
        let mut claims = user_claims();
        alter(&mut claims);
        let token = app.sign_with_server_key(&claims);
        assert_eq!(
            me_with(&app, &token).await,
            (401, Some(ErrorCode::TokenInvalid)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_expired_token_is_token_expired_and_leeway_is_two_seconds_at_most() {
    let app = spawn_app().await;
    let mut claims = user_claims();
    claims["exp"] = json!(now() - 4);
    assert_eq!(
        me_with(&app, &app.sign_with_server_key(&claims)).await,
        (401, Some(ErrorCode::TokenExpired))
    );
    claims["exp"] = json!(now() - 1);
    assert_eq!(
        me_with(&app, &app.sign_with_server_key(&claims)).await.0,
        200,
        "within the leeway"
    );
}

#[tokio::test]
async fn a_token_past_its_ttl_is_refused_as_expired() {
    let app = spawn_with(|s| s.token_ttl = std::time::Duration::from_secs(1)).await;
    let token = app.admin_token().await;
    assert_eq!(me_with(&app, &token).await.0, 200);
    app.app
        .state()
        .clock
        .advance(std::time::Duration::from_secs(4));
    assert_eq!(me_with(&app, &token).await.1, Some(ErrorCode::TokenExpired));
}

#[tokio::test]
async fn a_token_revoked_by_an_admin_is_refused_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let victim = app.session(ADMIN, &app.admin_password).await;
    let path = format!("/api/v1/tokens/{}/revoke", victim.token_id);
    assert_eq!(app.post(&path, &admin, None).await.status(), 204);
    assert_eq!(
        me_with(&app, &victim.token).await.1,
        Some(ErrorCode::TokenRevoked)
    );
}

#[tokio::test]
async fn a_deleted_users_tokens_are_revoked() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "olga", Role::Operator).await;
    assert_eq!(me_with(&app, &token).await.0, 200);
    assert_eq!(
        app.delete(&format!("/api/v1/users/{id}"), &admin)
            .await
            .status(),
        204
    );
    assert_eq!(me_with(&app, &token).await.1, Some(ErrorCode::TokenRevoked));
    assert_eq!(app.login("olga", STRONG).await.status(), 401);
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role(&admin, "vic", Role::Viewer).await;
    let (_, operator) = app.user_with_role(&admin, "otto", Role::Operator).await;
    for token in [&viewer, &operator] {
        assert_eq!(
            error_code(app.get("/api/v1/users", token).await).await,
            (403, ErrorCode::Forbidden)
        );
        assert_eq!(
            error_code(app.get("/api/v1/tokens", token).await).await.1,
            ErrorCode::Forbidden
        );
        assert_eq!(
            error_code(app.get("/api/v1/audit", token).await).await.1,
            ErrorCode::Forbidden
        );
        let create = app
            .post(
                "/api/v1/users",
                token,
                Some(json!({"username": "x", "password": "long enough pw", "role": "admin"})),
            )
            .await;
        assert_eq!(error_code(create).await.1, ErrorCode::Forbidden);
    }
    assert_eq!(app.get("/api/v1/auth/me", &viewer).await.status(), 200);
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(
        app.post("/api/v1/auth/logout", &token, None).await.status(),
        204
    );
    let (settings, data) = (app.settings.clone(), app.data);
    drop(app.app);
    let again = start(settings, data).await;
    assert_eq!(
        me_with(&again, &token).await.1,
        Some(ErrorCode::TokenRevoked)
    );
}

#[tokio::test]
async fn the_token_check_answers_without_the_database_and_refuses_like_any_route() {
    let app = spawn_app().await;
    let session = app.session(ADMIN, &app.admin_password).await;
    let token = session.token.as_str();
    let ok: Value = app
        .get("/api/v1/auth/check", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["status"], "ok");
    assert_eq!(
        error_code(
            app.client
                .get(app.url("/api/v1/auth/check"))
                .send()
                .await
                .unwrap()
        )
        .await
        .1,
        ErrorCode::TokenMissing
    );
    assert_eq!(
        app.client
            .get(app.url("/api/v1/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.post("/api/v1/auth/logout", token, None).await;
    assert_eq!(
        error_code(app.get("/api/v1/auth/check", token).await)
            .await
            .1,
        ErrorCode::TokenRevoked
    );
}
