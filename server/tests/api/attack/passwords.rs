//! Passwords: the policy, changing one's own, an admin's reset; usernames
//! without case.

use app::types::{ErrorCode, Role};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn weak_passwords_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (password, why) in [
        ("short-pw", "at least 12"),
        ("password1234", "too easy to guess"),
        ("qwertyuiopasdf", "too easy to guess"),
        ("xx-carol-xx-anchor-91", "username"),
    ] {
        let res = app
            .post(
                "/api/v1/users",
                &admin,
                Some(json!({"username": "carol", "password": password, "role": "viewer"})),
            )
            .await;
        assert_eq!(res.status(), 422, "{password}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "validation_failed");
        assert!(
            body["message"].as_str().unwrap().contains(why),
            "{password}: {body}"
        );
    }
}

#[tokio::test]
async fn a_weak_first_administrator_password_stops_the_start() {
    let data = tempfile::tempdir().unwrap();
    let mut s = vigil::settings::Settings::defaults();
    s.data_dir = data.path().to_path_buf();
    s.https_addr = "127.0.0.1:0".parse().unwrap();
    s.device_addr = "127.0.0.1:0".parse().unwrap();
    s.database_url = fresh_database()
        .await
        .map(vigil::settings::SecretString::from);
    s.admin_password = Some(vigil::settings::SecretString::from("password1234"));
    let err = vigil::startup::Application::build(s)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("VIGIL_ADMIN_PASSWORD"),
        "{err:#}"
    );
}

#[tokio::test]
async fn usernames_are_one_user_whatever_their_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _) = app.user_with_role(&admin, "Alice", Role::Viewer).await;
    let twin = app
        .post(
            "/api/v1/users",
            &admin,
            Some(json!({"username": "alice", "password": STRONG, "role": "admin"})),
        )
        .await;
    assert_eq!(error_code(twin).await, (409, ErrorCode::Conflict));
    assert_eq!(app.login("ALICE", STRONG).await.status(), 200);
}

#[tokio::test]
async fn changing_ones_password_ends_the_other_sessions_and_keeps_this_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, other_session) = app.user_with_role(&admin, "dora", Role::Operator).await;
    let this_session = app.session("dora", STRONG).await.token;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let wrong = app
        .post(
            "/api/v1/auth/password",
            &this_session,
            Some(change("not-it-at-all-9", "amber-fjord-lantern-62")),
        )
        .await;
    assert_eq!(
        error_code(wrong).await,
        (401, ErrorCode::InvalidCredentials)
    );
    let weak = app
        .post(
            "/api/v1/auth/password",
            &this_session,
            Some(change(STRONG, "password1234")),
        )
        .await;
    assert_eq!(error_code(weak).await, (422, ErrorCode::ValidationFailed));

    let ok = app
        .post(
            "/api/v1/auth/password",
            &this_session,
            Some(change(STRONG, "amber-fjord-lantern-62")),
        )
        .await;
    assert_eq!(ok.status(), 204);
    assert_eq!(
        app.get("/api/v1/auth/me", &this_session).await.status(),
        200,
        "this one stays"
    );
    assert_eq!(
        error_code(app.get("/api/v1/auth/me", &other_session).await).await,
        (401, ErrorCode::TokenRevoked)
    );
    assert_eq!(app.login("dora", STRONG).await.status(), 401);
    assert_eq!(
        app.login("dora", "amber-fjord-lantern-62").await.status(),
        200
    );
}

#[tokio::test]
async fn an_admin_resets_a_password_and_every_token_of_that_user_ends() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, session) = app.user_with_role(&admin, "erin", Role::Viewer).await;
    let path = format!("/api/v1/users/{id}/password");
    let by_viewer = app
        .post(
            &path,
            &session,
            Some(json!({"password": "amber-fjord-lantern-62"})),
        )
        .await;
    assert_eq!(error_code(by_viewer).await, (403, ErrorCode::Forbidden));
    let res = app
        .post(
            &path,
            &admin,
            Some(json!({"password": "amber-fjord-lantern-62"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        error_code(app.get("/api/v1/auth/me", &session).await).await,
        (401, ErrorCode::TokenRevoked)
    );
    assert_eq!(
        app.login("erin", "amber-fjord-lantern-62").await.status(),
        200
    );
    let missing = app
        .post(
            "/api/v1/users/999/password",
            &admin,
            Some(json!({"password": "amber-fjord-lantern-62"})),
        )
        .await;
    assert_eq!(error_code(missing).await, (404, ErrorCode::NotFound));
}
