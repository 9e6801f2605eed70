use app::types::{AuditEntry, AuditEvent, Role};
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn security_events_are_audited_and_readable_by_admins() {
    let app = spawn_app().await;
    app.login(ADMIN, "wrong password").await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role(&admin, "aud", Role::Viewer).await;
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
        &format!("/api/v1/tokens/{}/revoke", victim.token_id),
        &admin,
        None,
    )
    .await;
    app.delete(&format!("/api/v1/users/{id}"), &admin).await;

    let raw: Value = app
        .get("/api/v1/audit?limit=100", &admin)
        .await
        .json()
        .await
        .unwrap();
    let log: Vec<AuditEntry> = serde_json::from_value(raw.clone()).unwrap();
    let events: Vec<AuditEvent> = log.iter().map(|e| e.event).collect();
    for expected in [
        AuditEvent::LoginFailed,
        AuditEvent::LoginOk,
        AuditEvent::UserCreated,
        AuditEvent::RoleChanged,
        AuditEvent::Logout,
        AuditEvent::TokenRevoked,
        AuditEvent::UserDeleted,
    ] {
        assert!(events.contains(&expected), "{expected} in {events:?}");
    }
    let failed = log
        .iter()
        .find(|e| e.event == AuditEvent::LoginFailed)
        .unwrap();
    assert_eq!(failed.subject.as_deref(), Some("user:1 (admin)"));
    assert_eq!(failed.ip.as_deref(), Some("127.0.0.1"));
    assert!(
        !raw.to_string().contains("wrong password"),
        "no password in the audit log"
    );

    let only: Vec<AuditEntry> = app
        .get("/api/v1/audit?event=role_changed", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].detail.as_deref(), Some("viewer -> operator"));
}

#[tokio::test]
async fn a_malformed_username_never_reaches_the_audit_log_verbatim() {
    let app = spawn_app().await;
    app.login("admin\nFAKE login_ok", "whatever1").await;
    let admin = app.admin_token().await;
    let log: Vec<AuditEntry> = app
        .get("/api/v1/audit?event=login_failed", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log[0].subject.as_deref(), Some("(unknown user)"));
}
