//! The device side: the long-poll, answers, and who may answer what.

use std::time::{Duration, Instant};

use app::types::{CommandStatus, DeviceCommand, ErrorCode};
use serde_json::json;

use super::{answer, fixture, poll};
use crate::{device_helpers::*, helpers::*};

#[tokio::test]
async fn a_waiting_long_poll_wakes_at_once_when_a_command_is_queued() {
    let f = fixture().await;
    let (client, token) = (f.client.clone(), f.token.clone());
    let url = f.app.south_url("/device/v1/commands?wait=30");
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        let res = client
            .get(url)
            .header("x-access-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        (
            res.json::<Vec<DeviceCommand>>().await.unwrap(),
            Instant::now(),
        )
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the poll waits while nothing is queued"
    );
    let sent = f.send("wake", json!({"n": 1})).await;
    let queued_at = Instant::now();
    let (got, answered_at) = waiting.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].id, got[0].name.as_str()), (sent.id, "wake"));
    assert!(
        answered_at.duration_since(queued_at) < Duration::from_secs(1),
        "woken {:?} after the command was queued",
        answered_at.duration_since(queued_at)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(f.command(sent.id).await.status, CommandStatus::Delivered);
}

#[tokio::test]
async fn a_long_poll_with_nothing_queued_answers_empty_after_its_wait() {
    let f = fixture().await;
    let started = Instant::now();
    let res = poll(&f.app, &f.client, &f.token, "1").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.json::<Vec<DeviceCommand>>().await.unwrap().is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    for bad in ["61", "-1", "x"] {
        let res = poll(&f.app, &f.client, &f.token, bad).await.unwrap();
        let (status, code) = error_code(res).await;
        assert!(status == 422 || status == 400, "{bad}: {status}");
        assert_eq!(code, ErrorCode::ValidationFailed);
    }
}

#[tokio::test]
async fn two_devices_polling_at_once_each_get_only_their_own() {
    let f = fixture().await;
    let (other, _, other_client) = f.app.enrolled_device(&f.admin, "second").await;
    let other_token = device_token(&f.app, &other_client).await.token;
    let url_a = f.app.south_url("/device/v1/commands?wait=10");
    let url_b = url_a.clone();
    let (ca, ta) = (f.client.clone(), f.token.clone());
    let (cb, tb) = (other_client.clone(), other_token.clone());
    let a = tokio::spawn(async move {
        ca.get(url_a)
            .header("x-access-token", ta)
            .send()
            .await
            .unwrap()
            .json::<Vec<DeviceCommand>>()
            .await
            .unwrap()
    });
    let b = tokio::spawn(async move {
        cb.get(url_b)
            .header("x-access-token", tb)
            .send()
            .await
            .unwrap()
            .json::<Vec<DeviceCommand>>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let for_a = f.send("for-a", json!(null)).await;
    let res = f
        .send_raw(&f.admin, other.id, "", json!({"name": "for-b"}))
        .await;
    assert_eq!(res.status(), 201);
    let for_b: app::types::Command = res.json().await.unwrap();
    let (got_a, got_b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(got_a.iter().map(|c| c.id).collect::<Vec<_>>(), [for_a.id]);
    assert_eq!(got_b.iter().map(|c| c.id).collect::<Vec<_>>(), [for_b.id]);
}

#[tokio::test]
async fn a_device_cannot_answer_another_devices_command() {
    let f = fixture().await;
    let (_, _, intruder) = f.app.enrolled_device(&f.admin, "intruder").await;
    let intruder_token = device_token(&f.app, &intruder).await.token;
    let sent = f.send("unlock", json!({"door": "front"})).await;
    let res = answer(
        &f.app,
        &intruder,
        &intruder_token,
        sent.id,
        json!({"status": "succeeded"}),
    )
    .await;
    assert_eq!(error_code(res).await, (404, ErrorCode::NotFound));
    // Nor with the rightful device's token on its own connection.
    let res = answer(
        &f.app,
        &intruder,
        &f.token,
        sent.id,
        json!({"status": "succeeded"}),
    )
    .await;
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenInvalid));
    let res = answer(
        &f.app,
        &f.client,
        &f.token,
        999_999,
        json!({"status": "succeeded"}),
    )
    .await;
    assert_eq!(error_code(res).await, (404, ErrorCode::NotFound));
    assert_eq!(f.command(sent.id).await.status, CommandStatus::Queued);
}

#[tokio::test]
async fn a_command_is_answered_once_even_when_answers_race() {
    let f = fixture().await;
    let sent = f.send("once", json!(null)).await;
    let res = answer(
        &f.app,
        &f.client,
        &f.token,
        sent.id,
        json!({"status": "succeeded", "result": 1}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = answer(
        &f.app,
        &f.client,
        &f.token,
        sent.id,
        json!({"status": "failed", "result": 2}),
    )
    .await;
    assert_eq!(error_code(res).await, (409, ErrorCode::Conflict));
    let c = f.command(sent.id).await;
    assert_eq!(
        (c.status, c.result),
        (CommandStatus::Succeeded, Some(json!(1)))
    );

    // Ten answers at once: exactly one wins.
    for round in 0..3 {
        let sent = f.send("race", json!(round)).await;
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (client, token) = (f.client.clone(), f.token.clone());
            let url = f
                .app
                .south_url(&format!("/device/v1/commands/{}/result", sent.id));
            let status = if i % 2 == 0 { "succeeded" } else { "failed" };
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .header("x-access-token", token)
                    .json(&json!({"status": status, "result": i}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut codes = Vec::new();
        for t in tasks {
            codes.push(t.await.unwrap());
        }
        codes.sort_unstable();
        assert_eq!(codes.iter().filter(|&&c| c == 204).count(), 1, "{codes:?}");
        assert!(codes.iter().all(|&c| c == 204 || c == 409), "{codes:?}");
        let c = f.command(sent.id).await;
        let winner = c.result.clone().unwrap().as_i64().unwrap();
        let want = if winner % 2 == 0 {
            CommandStatus::Succeeded
        } else {
            CommandStatus::Failed
        };
        assert_eq!(c.status, want);
    }
}

#[tokio::test]
async fn bad_answers_are_refused_and_change_nothing() {
    let f = fixture().await;
    let sent = f.send("check", json!(null)).await;
    for body in [
        json!({"status": "queued"}),
        json!({"status": "cancelled"}),
        json!({"status": "done"}),
        json!({"result": 1}),
        json!({"status": "succeeded", "result": "z".repeat(16 * 1024)}),
    ] {
        let res = answer(&f.app, &f.client, &f.token, sent.id, body).await;
        assert_eq!(error_code(res).await, (422, ErrorCode::ValidationFailed));
    }
    let res = f
        .client
        .post(
            f.app
                .south_url(&format!("/device/v1/commands/{}/result", sent.id)),
        )
        .json(&json!({"status": "succeeded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenMissing));
    assert_eq!(f.command(sent.id).await.status, CommandStatus::Queued);
}

#[tokio::test]
async fn a_long_poll_ends_when_its_token_is_revoked() {
    let f = fixture().await;
    let (client, token) = (f.client.clone(), f.token.clone());
    let url = f.app.south_url("/device/v1/commands?wait=30");
    let waiting = tokio::spawn(async move {
        client
            .get(url)
            .header("x-access-token", token)
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tokens: Vec<app::types::TokenInfo> = f
        .app
        .get(
            &format!("/api/v1/tokens?device_id={}", f.device.id),
            &f.admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let revoked_at = Instant::now();
    let res = f
        .app
        .post(
            &format!("/api/v1/tokens/{}/revoke", tokens[0].token_id),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("the long-poll ended")
        .unwrap();
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked_at.elapsed()
    );
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenRevoked));
}
