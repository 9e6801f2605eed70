//! `GET /api/v1/summary`: the fleet at a glance, for any user, with the
//! security signals for admins only.

use std::time::Duration;

use app::types::{ErrorCode, FleetSummary, Role};
use serde_json::json;

use crate::{device_helpers::*, helpers::*};

async fn summary(app: &TestApp, token: &str, query: &str) -> FleetSummary {
    let res = app.get(&format!("/api/v1/summary{query}"), token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_summary_counts_the_fleet_and_shows_security_to_admins_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app
        .user_with_role(&admin, "summary-viewer", Role::Viewer)
        .await;
    let db = app.app.state().db.clone();
    // Counts another instance wrote: last minute (in the series), an hour
    // and more ago (not in it), and three days ago (deleted by the next
    // commit, past the two days kept).
    let minute = now().div_euclid(60);
    for (m, instance, n) in [
        (minute - 1, "elsewhere", 100i64),
        (minute - 61, "elsewhere", 5),
        (minute - 3 * 24 * 60, "elsewhere", 9),
    ] {
        sqlx::query("INSERT INTO reading_counts (minute, instance, count) VALUES ($1, $2, $3)")
            .bind(m)
            .bind(instance)
            .bind(n)
            .execute(&db)
            .await
            .unwrap();
    }

    // One device heard from, one never, one revoked; a command still open;
    // a failed login.
    // Their certificates are valid 90 days: the default 30 lies on the
    // expiry window's edge, counted or not by a second's timing.
    let long = || CertSpec {
        not_after: time::OffsetDateTime::now_utc() + time::Duration::days(90),
        ..CertSpec::default()
    };
    let (heard, _, client) = app
        .enrolled_device_with(&admin, "summary-heard", long())
        .await;
    let token = device_token(&app, &client).await.token;
    app.enrolled_device_with(&admin, "summary-silent", long())
        .await;
    let (revoked, _, _) = app
        .enrolled_device_with(&admin, "summary-revoked", long())
        .await;
    let body = json!({ "readings": [
        { "sensor": "t", "value": 1.0 },
        { "sensor": "t", "value": 2.0 },
        { "sensor": "h", "value": 3.0 },
    ]});
    let res = send_readings(&app, &client, &token, body).await.unwrap();
    assert_eq!(res.status(), 202);
    app.app.state().devices.flush_last_seen().await;
    let res = app
        .post(
            &format!("/api/v1/devices/{}/commands", heard.id),
            &admin,
            Some(json!({"name": "reboot"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post(
            &format!("/api/v1/devices/{}/revoke", revoked.id),
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.login("admin", "not the password").await.status(), 401);

    let s = summary(&app, &admin, "").await;
    assert_eq!(s.online_within, 300);
    assert_eq!(
        (
            s.devices.total,
            s.devices.online,
            s.devices.offline,
            s.devices.revoked
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(s.open_commands, 1);
    let sec = s.security.expect("an admin sees the security signals");
    assert_eq!(sec.failed_logins_24h, 1);
    assert_eq!(sec.revocations_24h, 1, "the device's revocation");
    assert_eq!(sec.expiring_certificates_30d, 0);

    // Sixty consecutive minutes, the current one last, every instance's
    // rows added; only what lies in the last hour.
    let series = &s.readings_per_minute_series;
    assert_eq!(series.len(), 60);
    let starts: Vec<i64> = series
        .iter()
        .map(|m| {
            chrono::DateTime::parse_from_rfc3339(&m.start)
                .unwrap()
                .timestamp()
        })
        .collect();
    assert!(starts.windows(2).all(|w| w[1] - w[0] == 60), "{starts:?}");
    let current = starts[59] / 60;
    assert!(
        current == minute || current == minute + 1,
        "{current} {minute}"
    );
    assert_eq!(series.iter().map(|m| m.count).sum::<i64>(), 103);
    let other = series.iter().find(|m| m.count >= 100).unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&other.start)
            .unwrap()
            .timestamp(),
        (minute - 1) * 60
    );
    assert_eq!(
        s.readings_per_minute, series[58].count,
        "the last whole minute"
    );
    // The commit deleted what was past two days, and nothing newer.
    let kept: Vec<i64> = sqlx::query_scalar("SELECT minute FROM reading_counts ORDER BY minute")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(!kept.contains(&(minute - 3 * 24 * 60)), "{kept:?}");
    assert!(kept.contains(&(minute - 61)), "{kept:?}");

    // A viewer sees the fleet, not the security signals.
    let v = summary(&app, &viewer, "").await;
    assert_eq!(v.devices, s.devices);
    assert!(v.security.is_none());
    let raw: serde_json::Value = app
        .get("/api/v1/summary", &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert!(raw.get("security").is_none(), "{raw}");

    // Six minutes on, the device is offline; within an hour it is online.
    app.app.state().clock.advance(Duration::from_secs(360));
    let later = summary(&app, &viewer, "").await;
    assert_eq!((later.devices.online, later.devices.offline), (0, 2));
    let hour = summary(&app, &viewer, "?online_within=3600").await;
    assert_eq!((hour.online_within, hour.devices.online), (3600, 1));
}

#[tokio::test]
async fn the_summary_refuses_a_bad_window_and_a_missing_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for bad in [
        "online_within=9",
        "online_within=604801",
        "online_within=soon",
    ] {
        let (status, code) =
            error_code(app.get(&format!("/api/v1/summary?{bad}"), &admin).await).await;
        assert_eq!((status, code), (400, ErrorCode::ValidationFailed), "{bad}");
    }
    let res = app
        .client
        .get(app.url("/api/v1/summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
