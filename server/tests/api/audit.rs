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

#[tokio::test]
async fn entries_past_the_retention_are_trimmed_in_batches_and_recent_ones_stay() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = &app.app.state().db;
    let old = now() - 100 * 86_400;
    for chunk in 0..5 {
        let mut sql = String::from("INSERT INTO audit_log (ts, event, subject) VALUES ");
        let rows: Vec<String> = (0..500)
            .map(|i| format!("({}, 'login_failed', 'old-{chunk}-{i}')", old + i))
            .collect();
        sql.push_str(&rows.join(", "));
        sqlx::query(&sql).execute(db).await.unwrap();
    }
    let trimmed = app
        .app
        .state()
        .audit
        .trim(std::time::Duration::from_secs(90 * 86_400))
        .await
        .unwrap();
    assert_eq!(trimmed, 2500, "more than one batch of 1000");
    let left: Vec<AuditEntry> = app
        .get("/api/v1/audit?limit=1000", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(!left.is_empty(), "recent entries stay");
    assert!(left
        .iter()
        .all(|e| !e.subject.as_deref().unwrap_or("").starts_with("old-")));
}

#[tokio::test]
async fn the_log_is_searched_and_paged_through_link() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // A failed login for each of five users; `_` is one of LIKE's
    // wildcards and a character of usernames.
    for name in ["mallory-a", "mallory_b", "Mallory-c", "mallory-d", "eve"] {
        app.user_with_role(&admin, name, Role::Viewer).await;
        assert_eq!(app.login(name, "not it").await.status(), 401);
    }
    let get = |path: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let res = app.get(&path, &admin).await;
            assert_eq!(res.status(), 200, "{path}");
            let total: i64 = total_count(&res);
            let next = next_link(&res);
            let page: Vec<AuditEntry> = res.json().await.unwrap();
            (page, total, next)
        }
    };
    let (all, total, next) = get("/api/v1/audit?event=login_failed&q=mallory".into()).await;
    assert_eq!((all.len(), total, next), (4, 4, None), "case-insensitive");
    let (wild, ..) = get("/api/v1/audit?event=login_failed&q=mallory_".into()).await;
    assert_eq!(wild.len(), 1, "_ is a character, not a wildcard");
    let (none, ..) = get("/api/v1/audit?q=mal%25ry".into()).await;
    assert!(none.is_empty(), "nor is %");

    // Two by two, newest first, the search kept on every page.
    let mut seen = Vec::new();
    let mut next = Some("/api/v1/audit?event=login_failed&q=mallory&limit=2".to_owned());
    while let Some(path) = next.take() {
        assert!(path.contains("q=mallory"), "{path}");
        let (page, total, more) = get(path).await;
        assert_eq!(total, 4);
        seen.extend(page.iter().map(|e| e.id));
        next = more;
    }
    assert_eq!(seen, all.iter().map(|e| e.id).collect::<Vec<_>>());

    let res = app
        .get(&format!("/api/v1/audit?q={}", "x".repeat(129)), &admin)
        .await;
    assert_eq!(error_code(res).await.0, 400);
}
