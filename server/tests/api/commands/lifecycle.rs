//! Expiry, revocation and the live stream's `commands` events.

use std::time::{Duration, Instant};

use app::types::{AuditEntry, Command, CommandStatus, ErrorCode};
use serde_json::json;

use super::{answer, fixture, poll, Fixture};
use crate::helpers::*;

/// Polls the command until it has `status` (or `within` passes).
async fn until_status(f: &Fixture, id: i64, status: CommandStatus, within: Duration) -> Command {
    let started = Instant::now();
    loop {
        let c = f.command(id).await;
        if c.status == status || started.elapsed() > within {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_unanswered_command_expires_on_time_and_a_late_answer_gets_409() {
    let f = fixture().await;
    let res = f
        .send_raw(
            &f.admin,
            f.device.id,
            "",
            json!({"name": "slow", "ttl_s": 5}),
        )
        .await;
    let late: Command = res.json().await.unwrap();
    let res = f
        .send_raw(
            &f.admin,
            f.device.id,
            "",
            json!({"name": "never", "ttl_s": 5}),
        )
        .await;
    let never: Command = res.json().await.unwrap();
    let res = f
        .send_raw(
            &f.admin,
            f.device.id,
            "",
            json!({"name": "later", "ttl_s": 60}),
        )
        .await;
    let later: Command = res.json().await.unwrap();
    let got = poll(&f.app, &f.client, &f.token, "0").await.unwrap();
    assert_eq!(got.json::<Vec<serde_json::Value>>().await.unwrap().len(), 3);

    // Five seconds pass on the platform's clock (no waiting).
    f.app.app.state().clock.advance(Duration::from_secs(5));
    let res = answer(
        &f.app,
        &f.client,
        &f.token,
        late.id,
        json!({"status": "succeeded"}),
    )
    .await;
    assert_eq!(error_code(res).await, (409, ErrorCode::Conflict));
    let c = until_status(&f, never.id, CommandStatus::Expired, Duration::from_secs(2)).await;
    assert_eq!(c.status, CommandStatus::Expired, "the sweeper expires it");
    assert!(c.completed_at.is_some() && c.result.is_none());
    assert_eq!(f.command(late.id).await.status, CommandStatus::Expired);
    // The one with time left is untouched, and can still be answered.
    assert_eq!(f.command(later.id).await.status, CommandStatus::Delivered);
    let res = answer(
        &f.app,
        &f.client,
        &f.token,
        later.id,
        json!({"status": "succeeded"}),
    )
    .await;
    assert_eq!(res.status(), 204);

    let audit: Vec<AuditEntry> = f
        .app
        .get("/api/v1/audit?event=command_expired", &f.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
}

#[tokio::test]
async fn an_expired_queued_command_is_never_delivered() {
    let f = fixture().await;
    let res = f
        .send_raw(
            &f.admin,
            f.device.id,
            "",
            json!({"name": "stale", "ttl_s": 5}),
        )
        .await;
    let stale: Command = res.json().await.unwrap();
    f.app.app.state().clock.advance(Duration::from_secs(6));
    let got: Vec<serde_json::Value> = poll(&f.app, &f.client, &f.token, "0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    let c = until_status(&f, stale.id, CommandStatus::Expired, Duration::from_secs(2)).await;
    assert_eq!(c.status, CommandStatus::Expired);
}

#[tokio::test]
async fn revoking_a_device_cancels_its_commands_and_refuses_new_ones() {
    let f = fixture().await;
    let delivered = f.send("delivered", json!(null)).await;
    let got = poll(&f.app, &f.client, &f.token, "0").await.unwrap();
    assert_eq!(got.json::<Vec<serde_json::Value>>().await.unwrap().len(), 1);
    let queued = f.send("queued", json!(null)).await;
    let done = f.send("done", json!(null)).await;
    f.app
        .post(
            &format!("/api/v1/commands/{}/cancel", done.id),
            &f.admin,
            None,
        )
        .await;
    let res = f
        .app
        .post(
            &format!("/api/v1/devices/{}/revoke", f.device.id),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    for id in [queued.id, delivered.id] {
        let c = until_status(&f, id, CommandStatus::Cancelled, Duration::from_secs(1)).await;
        assert_eq!(c.status, CommandStatus::Cancelled, "command {id}");
    }
    let audit: Vec<AuditEntry> = f
        .app
        .get("/api/v1/audit?event=command_cancelled", &f.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        audit.len(),
        3,
        "the user's cancel and the two of the revocation"
    );
    let res = f
        .send_raw(&f.admin, f.device.id, "", json!({"name": "after"}))
        .await;
    assert_eq!(error_code(res).await, (409, ErrorCode::Conflict));
    assert_eq!(f.list("").await.len(), 3, "nothing new was written");
}

#[tokio::test]
async fn a_revoked_devices_long_poll_ends_within_a_second() {
    let f = fixture().await;
    let (client, token) = (f.client.clone(), f.token.clone());
    let url = f.app.south_url("/device/v1/commands?wait=30");
    let waiting = tokio::spawn(async move {
        match client.get(url).header("x-access-token", token).send().await {
            Ok(res) => Some(error_code(res).await),
            Err(_) => None, // the connection was closed
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    let revoked_at = Instant::now();
    let res = f
        .app
        .post(
            &format!("/api/v1/devices/{}/revoke", f.device.id),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("the long-poll ended")
        .unwrap();
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked_at.elapsed()
    );
    if let Some(code) = ended {
        assert_eq!(code, (401, ErrorCode::TokenRevoked));
    }
}

#[tokio::test]
async fn the_live_stream_carries_each_change_of_status() {
    let f = fixture().await;
    let mut res = f
        .app
        .client
        .get(
            f.app
                .url(&format!("/api/v1/live?device_id={}", f.device.id)),
        )
        .header("x-access-token", &f.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut seen = String::new();
    let mut read_until = async |seen: &mut String, what: &str| {
        while !seen.contains(what) {
            match tokio::time::timeout(Duration::from_secs(5), res.chunk()).await {
                Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return false,
            }
        }
        true
    };
    assert!(read_until(&mut seen, "event: ready").await);
    let sent = f.send("watched", json!({"secret": false})).await;
    poll(&f.app, &f.client, &f.token, "0").await.unwrap();
    answer(
        &f.app,
        &f.client,
        &f.token,
        sent.id,
        json!({"status": "succeeded", "result": 7}),
    )
    .await;
    assert!(
        read_until(&mut seen, "\"status\":\"succeeded\"").await,
        "{seen}"
    );
    let events: Vec<Command> = seen
        .split("\n\n")
        .filter(|e| e.contains("event: commands"))
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let statuses: Vec<CommandStatus> = events.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            CommandStatus::Queued,
            CommandStatus::Delivered,
            CommandStatus::Succeeded
        ]
    );
    assert!(events.iter().all(|c| c.id == sent.id));
    assert_eq!(events[2].result, Some(json!(7)));
}
