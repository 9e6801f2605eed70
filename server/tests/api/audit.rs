use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn security_events_are_audited_and_readable_by_admins() {
    let app = spawn_app().await;
    app.login(ADMIN, "wrong password").await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "aud", "viewer").await;
    app.client
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .header("x-access-token", &admin)
        .json(&json!({"role": "operator"}))
        .send()
        .await
        .unwrap();
    app.post("/api/v1/auth/logout", &admin, None).await;
    let _ = token;
    let admin = app.admin_token().await;
    let victim = app.session(ADMIN, &app.admin_password).await;
    app.post(
        &format!(
            "/api/v1/tokens/{}/revoke",
            victim["token_id"].as_str().unwrap()
        ),
        &admin,
        None,
    )
    .await;
    app.delete(&format!("/api/v1/users/{id}"), &admin).await;

    let log: Value = app
        .get("/api/v1/audit?limit=100", &admin)
        .await
        .json()
        .await
        .unwrap();
    let events: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "login_failed",
        "login_ok",
        "user_created",
        "role_changed",
        "logout",
        "token_revoked",
        "user_deleted",
    ] {
        assert!(events.contains(&expected), "{expected} in {events:?}");
    }
    let failed = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "login_failed")
        .unwrap();
    assert_eq!(failed["subject"], "admin");
    assert_eq!(failed["ip"], "127.0.0.1");
    assert!(
        !log.to_string().contains("wrong password"),
        "no password in the audit log"
    );

    let only: Value = app
        .get("/api/v1/audit?event=role_changed", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(only[0]["detail"], "viewer -> operator");
}

#[tokio::test]
async fn a_malformed_username_never_reaches_the_audit_log_verbatim() {
    let app = spawn_app().await;
    app.login("admin\nFAKE login_ok", "whatever1").await;
    let admin = app.admin_token().await;
    let log: Value = app
        .get("/api/v1/audit?event=login_failed", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["subject"], "(malformed username)");
}
