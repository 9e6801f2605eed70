//! The north side: who may send, read and cancel, and what input is refused.

use std::time::{Duration, Instant};

use app::types::{AuditEntry, Command, CommandStatus, Device, ErrorCode, Role};
use serde_json::json;

use super::{answer, fixture, poll};
use crate::helpers::*;

#[tokio::test]
async fn an_operator_sends_the_device_receives_and_answers() {
    let f = fixture().await;
    let (op_id, operator) = f
        .app
        .user_with_role(&f.admin, "olivia", Role::Operator)
        .await;
    let res = f
        .send_raw(
            &operator,
            f.device.id,
            "",
            json!({"name": "set-point", "payload": {"celsius": 21.5}, "ttl_s": 120}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let sent: Command = res.json().await.unwrap();
    assert_eq!(sent.status, CommandStatus::Queued);
    assert_eq!((sent.device_id, sent.created_by), (f.device.id, op_id));
    assert_eq!(sent.payload, json!({"celsius": 21.5}));
    assert_eq!(sent.result, None);
    assert!(sent.delivered_at.is_none() && sent.completed_at.is_none());
    let created = chrono::DateTime::parse_from_rfc3339(&sent.created_at).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(&sent.expires_at).unwrap();
    assert_eq!((expires - created).num_seconds(), 120);

    // The devices table counts it as open.
    let shown: Device = f
        .app
        .get(&format!("/api/v1/devices/{}", f.device.id), &operator)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.open_commands, 1);

    let got: serde_json::Value = poll(&f.app, &f.client, &f.token, "0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got,
        json!([{"id": sent.id, "name": "set-point", "payload": {"celsius": 21.5}, "expires_at": sent.expires_at}])
    );
    let delivered = f.command(sent.id).await;
    assert_eq!(delivered.status, CommandStatus::Delivered);
    assert!(delivered.delivered_at.is_some());
    // Delivered once: the next poll is empty.
    let again: Vec<serde_json::Value> = poll(&f.app, &f.client, &f.token, "0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(again.is_empty());

    let res = answer(
        &f.app,
        &f.client,
        &f.token,
        sent.id,
        json!({"status": "succeeded", "result": {"applied": true}}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let done = f.command(sent.id).await;
    assert_eq!(done.status, CommandStatus::Succeeded);
    assert_eq!(done.result, Some(json!({"applied": true})));
    assert!(done.completed_at.is_some());

    // Audited with actor and device; payload and result stay out.
    let audit: Vec<AuditEntry> = f
        .app
        .get("/api/v1/audit?limit=50", &f.admin)
        .await
        .json()
        .await
        .unwrap();
    let subject = format!("device:{}", f.device.id);
    let sent_entry = audit
        .iter()
        .find(|e| e.event.as_str() == "command_sent")
        .expect("sending is audited");
    assert_eq!(
        sent_entry.actor.as_deref(),
        Some(format!("user:{op_id}").as_str())
    );
    assert_eq!(sent_entry.subject.as_deref(), Some(subject.as_str()));
    let answered = audit
        .iter()
        .find(|e| e.event.as_str() == "command_answered")
        .expect("answering is audited");
    assert_eq!(
        answered.actor.as_deref(),
        Some(format!("device:{}", f.device.id).as_str())
    );
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains("celsius") && !text.contains("applied"),
        "{text}"
    );
}

#[tokio::test]
async fn viewers_read_commands_but_cannot_send_or_cancel() {
    let f = fixture().await;
    let (_, viewer) = f.app.user_with_role(&f.admin, "victor", Role::Viewer).await;
    let res = f
        .send_raw(&viewer, f.device.id, "", json!({"name": "reboot"}))
        .await;
    assert_eq!(error_code(res).await, (403, ErrorCode::Forbidden));
    assert!(f.list("").await.is_empty(), "nothing was queued");

    let sent = f.send("reboot", json!(null)).await;
    let listed: Vec<Command> = f
        .app
        .get(
            &format!("/api/v1/devices/{}/commands", f.device.id),
            &viewer,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let res = f
        .app
        .get(&format!("/api/v1/commands/{}", sent.id), &viewer)
        .await;
    assert_eq!(res.status(), 200);
    let res = f
        .app
        .post(
            &format!("/api/v1/commands/{}/cancel", sent.id),
            &viewer,
            None,
        )
        .await;
    assert_eq!(error_code(res).await, (403, ErrorCode::Forbidden));
    assert_eq!(f.command(sent.id).await.status, CommandStatus::Queued);
    // Without a token, nothing.
    let res = f
        .app
        .client
        .get(f.app.url(&format!("/api/v1/commands/{}", sent.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenMissing));
}

#[tokio::test]
async fn bad_input_gets_the_contracts_errors_and_writes_nothing() {
    let f = fixture().await;
    let id = f.device.id;
    let big = "x".repeat(16 * 1024);
    let huge = "x".repeat(70 * 1024);
    for (query, body, want) in [
        ("", json!({"name": ""}), (422, ErrorCode::ValidationFailed)),
        (
            "",
            json!({"name": "two words"}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"name": "a".repeat(65)}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"name": "x/y"}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"payload": 1}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"name": "ok", "ttl_s": 4}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"name": "ok", "ttl_s": 86_401}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"name": "ok", "ttl_s": "60"}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"name": "ok", "payload": big}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "",
            json!({"name": "ok", "payload": huge}),
            (413, ErrorCode::PayloadTooLarge),
        ),
        (
            "?wait=0",
            json!({"name": "ok"}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "?wait=61",
            json!({"name": "ok"}),
            (422, ErrorCode::ValidationFailed),
        ),
        (
            "?wait=soon",
            json!({"name": "ok"}),
            (400, ErrorCode::ValidationFailed),
        ),
    ] {
        let res = f.send_raw(&f.admin, id, query, body.clone()).await;
        let got = error_code(res).await;
        assert_eq!(
            got,
            want,
            "{query} {}",
            &body.to_string()[..body.to_string().len().min(80)]
        );
    }
    // Malformed JSON.
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/api/v1/devices/{id}/commands")))
        .header("x-access-token", &f.admin)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (400, ErrorCode::ValidationFailed));
    assert!(f.list("").await.is_empty(), "nothing was written");

    // Unknown devices and commands.
    let res = f
        .send_raw(&f.admin, 999_999, "", json!({"name": "ok"}))
        .await;
    assert_eq!(error_code(res).await, (404, ErrorCode::NotFound));
    let res = f.app.get("/api/v1/devices/999999/commands", &f.admin).await;
    assert_eq!(error_code(res).await, (404, ErrorCode::NotFound));
    let res = f.app.get("/api/v1/commands/999999", &f.admin).await;
    assert_eq!(error_code(res).await, (404, ErrorCode::NotFound));
    let res = f
        .app
        .post("/api/v1/commands/999999/cancel", &f.admin, None)
        .await;
    assert_eq!(error_code(res).await, (404, ErrorCode::NotFound));
    // Bad list queries.
    for q in ["?status=done", "?limit=0", "?limit=1001", "?limit=x"] {
        let res = f
            .app
            .get(&format!("/api/v1/devices/{id}/commands{q}"), &f.admin)
            .await;
        assert_eq!(
            error_code(res).await,
            (400, ErrorCode::ValidationFailed),
            "{q}"
        );
    }
    // The largest payload allowed is taken whole.
    let edge = "y".repeat(16 * 1024 - 2);
    let sent = f.send("edge", json!(edge)).await;
    assert_eq!(f.command(sent.id).await.payload, json!(edge));
}

#[tokio::test]
async fn a_cancelled_command_is_final_and_never_delivered() {
    let f = fixture().await;
    let sent = f.send("open-valve", json!({"valve": 3})).await;
    let res = f
        .app
        .post(
            &format!("/api/v1/commands/{}/cancel", sent.id),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let c = f.command(sent.id).await;
    assert_eq!(c.status, CommandStatus::Cancelled);
    assert!(c.completed_at.is_some());
    let res = f
        .app
        .post(
            &format!("/api/v1/commands/{}/cancel", sent.id),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(error_code(res).await, (409, ErrorCode::Conflict));
    let got: Vec<serde_json::Value> = poll(&f.app, &f.client, &f.token, "0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(got.is_empty());
    // Nor can the device answer it now.
    let res = answer(
        &f.app,
        &f.client,
        &f.token,
        sent.id,
        json!({"status": "succeeded"}),
    )
    .await;
    assert_eq!(error_code(res).await, (409, ErrorCode::Conflict));
    assert_eq!(f.command(sent.id).await.status, CommandStatus::Cancelled);
}

#[tokio::test]
async fn lists_are_newest_first_and_filter_by_status() {
    let f = fixture().await;
    let a = f.send("a", json!(1)).await;
    let b = f.send("b", json!(2)).await;
    let c = f.send("c", json!(3)).await;
    f.app
        .post(&format!("/api/v1/commands/{}/cancel", b.id), &f.admin, None)
        .await;
    let ids: Vec<i64> = f.list("").await.iter().map(|c| c.id).collect();
    assert_eq!(ids, [c.id, b.id, a.id]);
    let queued: Vec<i64> = f
        .list("?status=queued")
        .await
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(queued, [c.id, a.id]);
    let one: Vec<i64> = f.list("?limit=1").await.iter().map(|c| c.id).collect();
    assert_eq!(one, [c.id]);
}

#[tokio::test]
async fn wait_holds_the_answer_until_the_command_is_final_or_time_is_up() {
    let f = fixture().await;
    // Nobody answers: after the wait, still queued.
    let started = Instant::now();
    let res = f
        .send_raw(&f.admin, f.device.id, "?wait=1", json!({"name": "lonely"}))
        .await;
    assert_eq!(res.status(), 201);
    let c: Command = res.json().await.unwrap();
    assert_eq!(c.status, CommandStatus::Queued);
    assert!(started.elapsed() >= Duration::from_secs(1));

    // The device answers meanwhile: the answer carries the result.
    let (app_client, token) = (f.client.clone(), f.token.clone());
    let south = f.app.south_url("");
    let device = tokio::spawn(async move {
        loop {
            let got: Vec<serde_json::Value> = app_client
                .get(format!("{south}/device/v1/commands?wait=10"))
                .header("x-access-token", &token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for c in &got {
                if c["name"] == "answered" {
                    let res = app_client
                        .post(format!("{south}/device/v1/commands/{}/result", c["id"]))
                        .header("x-access-token", &token)
                        .json(&json!({"status": "failed", "result": {"why": "jammed"}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 204);
                    return;
                }
            }
        }
    });
    let res = f
        .send_raw(
            &f.admin,
            f.device.id,
            "?wait=10",
            json!({"name": "answered"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let c: Command = res.json().await.unwrap();
    assert_eq!(c.status, CommandStatus::Failed);
    assert_eq!(c.result, Some(json!({"why": "jammed"})));
    device.await.unwrap();
}

#[tokio::test]
async fn a_device_takes_no_more_open_commands_than_allowed() {
    let app = spawn_with(|s| s.device_max_open_commands = 2).await;
    let admin = app.admin_token().await;
    let (device, _, _) = app.enrolled_device(&admin, "busy").await;
    let path = format!("/api/v1/devices/{}/commands", device.id);
    let mut sent = Vec::new();
    for name in ["one", "two"] {
        let res = app.post(&path, &admin, Some(json!({ "name": name }))).await;
        assert_eq!(res.status(), 201);
        sent.push(res.json::<Command>().await.unwrap());
    }
    let res = app
        .post(&path, &admin, Some(json!({"name": "three"})))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(error_code(res).await, (429, ErrorCode::RateLimited));
    let listed: Vec<Command> = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(listed.len(), 2, "nothing was written");
    // A final command no longer counts.
    let res = app
        .post(
            &format!("/api/v1/commands/{}/cancel", sent[0].id),
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post(&path, &admin, Some(json!({"name": "three"})))
        .await;
    assert_eq!(res.status(), 201);
}
