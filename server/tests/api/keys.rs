//! Signing keys: the JWKS, checked by a JOSE library on the JWKS alone,
//! and rotation, with the old key verifying until its tokens have expired.

use app::types::{ErrorCode, SigningKey};
use jsonwebtoken::{
    decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde_json::Value;

use crate::helpers::*;

async fn jwks(app: &TestApp) -> JwkSet {
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    res.json().await.unwrap()
}

/// Verifies a user token with nothing but the JWKS: the key its header
/// names, EdDSA, Vigil's issuer and audience. The subject, or why not.
fn verify_with(set: &JwkSet, token: &str) -> Result<String, String> {
    let kid = decode_header(token).unwrap().kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or(format!("kid {kid} not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&["vigil"]);
    v.set_audience(&["vigil-north"]);
    decode::<Value>(token, &key, &v)
        .map(|d| d.claims["sub"].as_str().unwrap().to_owned())
        .map_err(|e| e.to_string())
}

fn kid(token: &str) -> String {
    decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn the_jwks_publishes_the_key_that_verifies_vigils_tokens() {
    let app = spawn_app().await;
    let session = app.session("admin", &app.admin_password).await;
    let set = jwks(&app).await;
    assert_eq!(set.keys.len(), 1);
    let raw: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &raw["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "never the private key");
    assert_eq!(verify_with(&set, &session.token), Ok("1".into()));
    // A token signed by another key under Vigil's kid does not verify.
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid(&session.token));
    let forged = jsonwebtoken::encode(
        &header,
        &user_claims(),
        &EncodingKey::from_ed_pem(stranger.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    assert!(verify_with(&set, &forged).is_err());
}

#[tokio::test]
async fn a_rotation_signs_with_a_new_key_and_the_old_one_verifies_until_its_tokens_expire() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let old_kid = kid(&admin);
    let old_pem = std::fs::read(app.data_path().join("pki/jwt-signing.key")).unwrap();

    let (_, viewer) = app
        .user_with_role(&admin, "keys-viewer", app::types::Role::Viewer)
        .await;
    assert_eq!(
        app.post("/api/v1/keys/rotate", &viewer, None)
            .await
            .status(),
        403
    );
    assert_eq!(app.get("/api/v1/keys", &viewer).await.status(), 403);

    let res = app.post("/api/v1/keys/rotate", &admin, None).await;
    assert_eq!(res.status(), 201);
    let new: SigningKey = res.json().await.unwrap();
    assert_eq!(new.status, "current");
    assert_ne!(new.kid, old_kid);

    // New tokens carry the new key; the old token still works.
    let fresh = app.admin_token().await;
    assert_eq!(kid(&fresh), new.kid);
    assert_eq!(app.get("/api/v1/auth/me", &admin).await.status(), 200);
    assert_eq!(app.get("/api/v1/auth/me", &fresh).await.status(), 200);
    let set = jwks(&app).await;
    assert_eq!(set.keys.len(), 2);
    assert_eq!(verify_with(&set, &admin), Ok("1".into()));
    assert_eq!(verify_with(&set, &fresh), Ok("1".into()));
    let keys: Vec<SigningKey> = app.get("/api/v1/keys", &fresh).await.json().await.unwrap();
    assert_eq!(keys.len(), 2);
    let old = keys.iter().find(|k| k.kid == old_kid).unwrap();
    assert_eq!(old.status, "retired");
    let until = chrono::DateTime::parse_from_rfc3339(old.verify_until.as_deref().unwrap())
        .unwrap()
        .timestamp();
    // Device tokens live 24 h: the old key verifies at least that long.
    assert!(until >= now() + 24 * 3600, "{old:?}");

    // The old private key still signs a fresh-looking token, accepted
    // while the old key verifies…
    let forge = |pem: &[u8]| {
        let mut claims = user_claims();
        let now = app.app.state().clock.now();
        claims["iat"] = now.into();
        claims["nbf"] = now.into();
        claims["exp"] = (now + 600).into();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(old_kid.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_pem(pem).unwrap()).unwrap()
    };
    assert_eq!(
        app.get("/api/v1/auth/me", &forge(&old_pem)).await.status(),
        200
    );
    // …and refused once it is past its period, when it has left the JWKS.
    app.app
        .state()
        .clock
        .advance(std::time::Duration::from_secs((until - now() + 5) as u64));
    let (status, code) = error_code(app.get("/api/v1/auth/me", &forge(&old_pem)).await).await;
    assert_eq!((status, code), (401, ErrorCode::TokenInvalid));
    let (status, _) = error_code(app.get("/api/v1/auth/me", &admin).await).await;
    assert_eq!(status, 401);
    assert_eq!(jwks(&app).await.keys.len(), 1);
    let later = app.admin_token().await;
    assert_eq!(kid(&later), new.kid);
    assert_eq!(verify_with(&jwks(&app).await, &later), Ok("1".into()));

    let audit: Vec<Value> = app
        .get("/api/v1/audit?limit=50", &later)
        .await
        .json()
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e["event"] == "keys_rotated"));
}

#[tokio::test]
async fn private_keys_are_sealed_in_the_database_and_survive_a_restart() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let res = app.post("/api/v1/keys/rotate", &admin, None).await;
    let new: SigningKey = res.json().await.unwrap();
    use sqlx::Row;
    let rows = sqlx::query("SELECT private_key FROM signing_keys")
        .fetch_all(&app.app.state().db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        let sealed: String = r.get(0);
        assert!(!sealed.contains("PRIVATE KEY"), "sealed, never PEM");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(app.data_path().join("pki/key-encryption.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // A restart signs with the rotated key, and the old token holds.
    let (settings, data) = (app.settings.clone(), app.data);
    drop(app.app);
    let again = start(settings, data).await;
    assert_eq!(again.get("/api/v1/auth/me", &admin).await.status(), 200);
    assert_eq!(kid(&again.admin_token().await), new.kid);
}
