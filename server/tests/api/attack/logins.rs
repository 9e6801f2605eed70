//! Login throttling that slows attackers down without locking anyone out.

use std::net::IpAddr;

use app::types::{AuditEntry, ErrorCode};
use serde_json::json;

use super::ip;
use crate::helpers::*;

/// A client of this instance that connects from `from`.
fn client_from(app: &TestApp, from: IpAddr) -> reqwest::Client {
    let pem = std::fs::read(app.data_path().join("pki/platform-ca.pem")).unwrap();
    reqwest::Client::builder()
        .local_address(from)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

async fn login_from(app: &TestApp, from: IpAddr, username: &str, password: &str) -> u16 {
    client_from(app, from)
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn ipv4_clients_of_a_dual_stack_listener_are_throttled_one_by_one() {
    let app = spawn_with(|s| {
        s.https_addr = "[::]:0".parse().unwrap();
        s.login_max_failures_per_ip = 3;
    })
    .await;
    // Twenty addresses, one wrong password each: no address reaches its
    // limit, so nobody is locked out.
    for i in 1..=20 {
        let from = ip(&format!("127.0.2.{i}"));
        assert_eq!(
            login_from(&app, from, "nobody", "wrong-password-x").await,
            401
        );
    }
    assert_eq!(
        login_from(&app, ip("127.0.2.21"), ADMIN, &app.admin_password).await,
        200
    );
    // One address past its limit is refused, the others are not.
    for _ in 0..3 {
        login_from(&app, ip("127.0.3.1"), "nobody", "wrong-password-x").await;
    }
    assert_eq!(
        login_from(&app, ip("127.0.3.1"), ADMIN, &app.admin_password).await,
        429
    );
    assert_eq!(
        login_from(&app, ip("127.0.3.2"), ADMIN, &app.admin_password).await,
        200
    );
}

#[tokio::test]
async fn wrong_passwords_for_admin_from_one_address_never_lock_it_out_from_another() {
    let app = spawn_app().await;
    for _ in 0..12 {
        login_from(&app, ip("127.0.4.1"), ADMIN, "not-the-password-1").await;
    }
    let res = client_from(&app, ip("127.0.4.1"))
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "username": ADMIN, "password": app.admin_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "the guessing address is refused");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(error_code(res).await.1, ErrorCode::TooManyAttempts);
    assert_eq!(
        login_from(&app, ip("127.0.4.2"), "ADMIN", &app.admin_password).await,
        200,
        "the right password from a clean address (any case of the name)"
    );
}

#[tokio::test]
async fn a_throttled_flood_writes_one_audit_entry() {
    let app = spawn_with(|s| s.login_max_failures = 2).await;
    for _ in 0..60 {
        login_from(&app, ip("127.0.5.1"), ADMIN, "not-the-password-2").await;
    }
    let admin = app.admin_token().await;
    let throttled: Vec<AuditEntry> = app
        .get("/api/v1/audit?event=login_throttled", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    let failed: Vec<AuditEntry> = app
        .get("/api/v1/audit?event=login_failed", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed.len(), 2, "only the attempts that were checked");
}

#[tokio::test]
async fn a_failed_login_for_an_unknown_user_is_audited_without_what_was_typed() {
    let app = spawn_app().await;
    app.login("hunter2-my-real-password", "x").await;
    app.login(ADMIN, "hunter3-wrong").await;
    let admin = app.admin_token().await;
    let res = app.get("/api/v1/audit?event=login_failed", &admin).await;
    let raw = res.text().await.unwrap();
    assert!(!raw.contains("hunter2"), "{raw}");
    let log: Vec<AuditEntry> = serde_json::from_str(&raw).unwrap();
    let subjects: Vec<_> = log.iter().filter_map(|e| e.subject.as_deref()).collect();
    assert!(subjects.contains(&"(unknown user)"), "{subjects:?}");
    assert!(subjects.contains(&"user:1 (admin)"), "{subjects:?}");
}
