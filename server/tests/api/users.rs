use app::types::{ErrorCode, Role, UserInfo};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn an_admin_creates_lists_and_deletes_users() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/api/v1/users",
            &admin,
            Some(json!({"username": "ann", "password": STRONG, "role": "operator"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let raw: Value = res.json().await.unwrap();
    let ann: UserInfo = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(ann.role, Role::Operator);
    assert!(raw.get("password_hash").is_none());

    let list: Vec<UserInfo> = app.get("/api/v1/users", &admin).await.json().await.unwrap();
    let names: Vec<&str> = list.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["admin", "ann"]);

    let id = ann.id;
    assert_eq!(
        app.delete(&format!("/api/v1/users/{id}"), &admin)
            .await
            .status(),
        204
    );
    assert_eq!(
        error_code(app.delete(&format!("/api/v1/users/{id}"), &admin).await).await,
        (404, ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn a_duplicate_username_is_a_conflict() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"username": "dup", "password": STRONG, "role": "viewer"});
    assert_eq!(
        app.post("/api/v1/users", &admin, Some(body.clone()))
            .await
            .status(),
        201
    );
    assert_eq!(
        error_code(app.post("/api/v1/users", &admin, Some(body)).await).await,
        (409, ErrorCode::Conflict)
    );
}

#[tokio::test]
async fn invalid_users_are_refused_and_nothing_is_created() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bad = [
        json!({"username": "x", "password": "short", "role": "viewer"}),
        json!({"username": "has space", "password": STRONG, "role": "viewer"}),
        json!({"username": "", "password": STRONG, "role": "viewer"}),
        json!({"username": "ok", "password": STRONG, "role": "root"}),
        json!({"username": "ok", "password": STRONG}),
    ];
    for body in bad {
        let (status, code) =
            error_code(app.post("/api/v1/users", &admin, Some(body.clone())).await).await;
        assert_eq!(code, ErrorCode::ValidationFailed, "{body}");
        assert!(status == 400 || status == 422);
    }
    let list: Vec<UserInfo> = app.get("/api/v1/users", &admin).await.json().await.unwrap();
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn a_role_change_takes_effect_at_once_by_revoking_the_old_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "pat", Role::Operator).await;
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .header("x-access-token", &admin)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<UserInfo>().await.unwrap().role, Role::Viewer);
    assert_eq!(
        error_code(app.get("/api/v1/auth/me", &token).await).await.1,
        ErrorCode::TokenRevoked
    );
    let fresh = app.session("pat", STRONG).await;
    assert_eq!(fresh.user.role, Role::Viewer);
}

#[tokio::test]
async fn the_last_administrator_can_be_neither_deleted_nor_demoted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_eq!(
        error_code(app.delete("/api/v1/users/1", &admin).await).await,
        (409, ErrorCode::Conflict)
    );
    let res = app
        .client
        .patch(app.url("/api/v1/users/1"))
        .header("x-access-token", &admin)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await.1, ErrorCode::Conflict);
    assert_eq!(app.get("/api/v1/auth/me", &admin).await.status(), 200);
}
