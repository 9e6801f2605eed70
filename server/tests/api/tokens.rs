use app::types::{ErrorCode, RevocationReason, Role, TokenInfo};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_registry_lists_tokens_by_user_and_state_without_the_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (uid, user_token) = app.user_with_role(&admin, "lee", Role::Viewer).await;
    app.post("/api/v1/auth/logout", &user_token, None).await;

    let raw: Value = app
        .get(&format!("/api/v1/tokens?user_id={uid}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let mine: Vec<TokenInfo> = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].blacklist);
    assert_eq!(mine[0].blacklist_reason, Some(RevocationReason::Logout));
    assert!(raw[0].get("token").is_none());

    let active: Vec<TokenInfo> = app
        .get(&format!("/api/v1/tokens?user_id={uid}&active=true"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(active.is_empty());
    let inactive: Vec<TokenInfo> = app
        .get("/api/v1/tokens?active=false", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inactive.len(), 1);
}

#[tokio::test]
async fn revoking_an_unknown_token_is_not_found_and_a_bad_filter_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_eq!(
        error_code(app.post("/api/v1/tokens/nope/revoke", &admin, None).await).await,
        (404, ErrorCode::NotFound)
    );
    for odd in ["%00", "a%20b", "%E2%9C%93"] {
        let res = app
            .post(&format!("/api/v1/tokens/{odd}/revoke"), &admin, None)
            .await;
        assert_eq!(error_code(res).await, (404, ErrorCode::NotFound), "{odd}");
    }
    assert_eq!(
        error_code(app.get("/api/v1/tokens?user_id=abc", &admin).await).await,
        (400, ErrorCode::ValidationFailed)
    );
    assert_eq!(
        error_code(app.get("/api/v1/tokens?limit=0", &admin).await)
            .await
            .1,
        ErrorCode::ValidationFailed
    );
}

#[tokio::test]
async fn the_sweeper_marks_expired_tokens_and_purges_old_ones() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = &app.app.state().db;
    let now = now();
    for (id, exp) in [
        ("expired-recently", now - 60),
        ("expired-long-ago", now - 30 * 86_400),
    ] {
        sqlx::query("INSERT INTO tokens (token_id, user_id, token_sha256, issued_at, expires_at) VALUES ($1, 1, 'x', $2, $3)")
            .bind(id)
            .bind(exp - 3600)
            .bind(exp)
            .execute(db)
            .await
            .unwrap();
    }
    vigil::tokens::sweeper::sweep_once(&app.app.state().tokens, app.settings.token_retention).await;
    let list: Vec<TokenInfo> = app
        .get("/api/v1/tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list.iter().map(|t| t.token_id.as_str()).collect();
    assert!(!ids.contains(&"expired-long-ago"), "purged after retention");
    let recent = list
        .iter()
        .find(|t| t.token_id == "expired-recently")
        .unwrap();
    assert!(recent.blacklist);
    assert_eq!(recent.blacklist_reason, Some(RevocationReason::Expired));
    assert_eq!(
        app.get("/api/v1/auth/me", &admin).await.status(),
        200,
        "live tokens untouched"
    );
}

#[tokio::test]
async fn a_revocation_written_by_another_instance_is_picked_up() {
    let app = spawn_app().await;
    let token = app.session(ADMIN, &app.admin_password).await;
    let t = token.token.as_str();
    assert_eq!(app.get("/api/v1/auth/me", t).await.status(), 200);
    // Another instance sharing the database blacklists it.
    sqlx::query("UPDATE tokens SET blacklist = 1, blacklist_reason = 'admin_revoked', blacklisted_at = $1 WHERE token_id = $2")
        .bind(now())
        .bind(token.token_id.as_str())
        .execute(&app.app.state().db)
        .await
        .unwrap();
    let mut refused = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let res = app.get("/api/v1/auth/me", t).await;
        if res.status() == 401 {
            assert_eq!(error_code(res).await.1, ErrorCode::TokenRevoked);
            refused = true;
            break;
        }
    }
    assert!(refused, "the revocation reached this instance within 8 s");
}

#[tokio::test]
async fn a_token_is_recorded_only_while_its_user_keeps_the_role_it_claims() {
    let app = spawn_app().await;
    let state = app.app.state();
    let record = |id: &'static str, user: i64| vigil::tokens::store::NewToken {
        token_id: id,
        owner: vigil::tokens::store::Owner::User(user),
        digest: "d",
        issued_at: now(),
        expires_at: now() + 60,
        cert: None,
    };
    let insert = vigil::tokens::store::insert;
    assert!(insert(
        &state.db,
        state.engine,
        &record("as-admin", 1),
        Some("admin")
    )
    .await
    .unwrap());
    assert!(!insert(
        &state.db,
        state.engine,
        &record("as-viewer", 1),
        Some("viewer")
    )
    .await
    .unwrap());
    assert!(
        !insert(&state.db, state.engine, &record("gone", 999), Some("admin"))
            .await
            .unwrap()
    );
}
