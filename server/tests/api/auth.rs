use app::types::{ErrorCode, Role, TokenInfo};
use serde_json::{json, Value};

use vigil::settings::ExposeSecret;

use crate::helpers::*;

#[tokio::test]
async fn login_with_the_right_password_returns_a_recorded_token_and_the_user() {
    let app = spawn_app().await;
    let body = app.session(ADMIN, &app.admin_password).await;
    assert_eq!(body.user.username, ADMIN);
    assert_eq!(body.user.role, Role::Admin);
    assert_eq!(body.token.split('.').count(), 3);
    assert!(body.expires_at.ends_with('Z'));

    let token = body.token.as_str();
    let list: Value = app.get("/api/v1/tokens", token).await.json().await.unwrap();
    let entries: Vec<TokenInfo> = serde_json::from_value(list.clone()).unwrap();
    let entry = entries
        .iter()
        .find(|t| t.token_id == body.token_id)
        .expect("recorded");
    assert_eq!(entry.user_id, Some(body.user.id));
    assert!(!entry.blacklist);
    assert!(
        !list.to_string().contains(token),
        "the registry never returns a token"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let wrong = app.login(ADMIN, "not the password").await;
    let unknown = app.login("nobody", "not the password").await;
    assert_eq!(wrong.status(), 401);
    let (a, b): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a["error"], ErrorCode::InvalidCredentials.as_str());
}

#[tokio::test]
async fn the_raw_token_is_not_stored_in_the_database() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let row: (String,) = sqlx::query_as("SELECT token_sha256 FROM tokens")
        .fetch_one(&app.app.state().db)
        .await
        .unwrap();
    assert_eq!(row.0, vigil::tokens::jwt::token_digest(&token));
    if let Some(url) = app
        .settings
        .database_url
        .as_ref()
        .map(|u| u.expose_secret().to_owned())
    {
        assert!(url.starts_with("postgres"));
    } else {
        let bytes = std::fs::read(app.data_path().join("vigil.db")).unwrap();
        let wal = std::fs::read(app.data_path().join("vigil.db-wal")).unwrap_or_default();
        let needle = token.as_bytes();
        for hay in [&bytes, &wal] {
            assert!(
                !hay.windows(needle.len()).any(|w| w == needle),
                "token found on disk"
            );
        }
    }
}

#[tokio::test]
async fn a_username_is_throttled_after_repeated_failures_even_with_the_right_password() {
    let app = spawn_with(|s| s.login_max_failures = 3).await;
    for _ in 0..3 {
        assert_eq!(app.login(ADMIN, "wrong password").await.status(), 401);
    }
    let res = app.login(ADMIN, &app.admin_password).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(error_code(res).await, (429, ErrorCode::TooManyAttempts));
}

#[tokio::test]
async fn a_client_address_is_throttled_across_usernames() {
    let app = spawn_with(|s| s.login_max_failures_per_ip = 4).await;
    for i in 0..4 {
        assert_eq!(
            app.login(&format!("user{i}"), "wrong password")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        error_code(app.login("someone-else", "wrong password").await)
            .await
            .1,
        ErrorCode::TooManyAttempts
    );
}

#[tokio::test]
async fn a_good_login_clears_the_failures_of_its_username() {
    let app = spawn_with(|s| s.login_max_failures = 3).await;
    app.login(ADMIN, "wrong password").await;
    app.login(ADMIN, "wrong password").await;
    app.session(ADMIN, &app.admin_password).await;
    app.login(ADMIN, "wrong password").await;
    app.login(ADMIN, "wrong password").await;
    assert_eq!(app.login(ADMIN, &app.admin_password).await.status(), 200);
}

#[tokio::test]
async fn me_answers_who_the_token_belongs_to() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let me: Value = app
        .get("/api/v1/auth/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me, json!({ "id": 1, "username": "admin", "role": "admin" }));
}

#[tokio::test]
async fn logout_blacklists_that_token_at_once_and_only_that_token() {
    let app = spawn_app().await;
    let first = app.admin_token().await;
    let second = app.admin_token().await;
    assert_eq!(
        app.post("/api/v1/auth/logout", &first, None).await.status(),
        204
    );
    assert_eq!(
        error_code(app.get("/api/v1/auth/me", &first).await).await,
        (401, ErrorCode::TokenRevoked)
    );
    assert_eq!(app.get("/api/v1/auth/me", &second).await.status(), 200);
    // Logging out twice with the same token is refused: it is revoked.
    assert_eq!(
        error_code(app.post("/api/v1/auth/logout", &first, None).await)
            .await
            .1,
        ErrorCode::TokenRevoked
    );
}

#[tokio::test]
async fn the_first_administrator_is_created_only_while_there_is_no_user() {
    let app = spawn_app().await;
    let data = app.data;
    let mut settings = app.settings.clone();
    drop(app.app);
    // A different password on restart changes nothing: the admin exists.
    settings.admin_password = Some(vigil::settings::SecretString::from("another password!"));
    let again = start(settings, data).await;
    assert_eq!(again.login(ADMIN, "another password!").await.status(), 401);
}

#[tokio::test]
async fn concurrent_attempts_cannot_outrun_the_throttle() {
    let app = spawn_with(|s| s.login_max_failures = 3).await;
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
            tokio::spawn(async move {
                let body = json!({ "username": ADMIN, "password": "wrong password" });
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        9,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_nul_byte_in_a_username_is_an_ordinary_failure_on_every_engine() {
    let app = spawn_app().await;
    assert_eq!(
        error_code(app.login("adm\u{0}in", "whatever pw").await).await,
        (401, ErrorCode::InvalidCredentials)
    );
    let admin = app.admin_token().await;
    assert_eq!(
        error_code(app.get("/api/v1/audit?event=%00", &admin).await).await,
        (400, ErrorCode::ValidationFailed)
    );
}
