//! The live readings stream: header-authenticated, filtered, and ended
//! promptly when its token stops being good.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{device_helpers::*, helpers::*};

/// Reads the stream until `pred` holds on what arrived, or the stream ends.
async fn read_until(res: &mut reqwest::Response, seen: &mut String, pred: impl Fn(&str) -> bool) -> bool {
    while !pred(seen) {
        match tokio::time::timeout(Duration::from_secs(5), res.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return false,
        }
    }
    true
}

async fn open(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    let res = app.client.get(app.url(&format!("/api/v1/live{query}"))).header("x-access-token", token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    res
}

#[tokio::test]
async fn new_readings_arrive_on_the_stream_filtered_by_device() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (dev_a, _, a) = app.enrolled_device(&admin, "live-a").await;
    let (_, _, b) = app.enrolled_device(&admin, "live-b").await;
    let ta = device_token(&app, &a).await["token"].as_str().unwrap().to_owned();
    let tb = device_token(&app, &b).await["token"].as_str().unwrap().to_owned();

    let mut only_a = open(&app, &admin, &format!("?device_id={}", dev_a["id"])).await;
    let mut seen = String::new();
    assert!(read_until(&mut only_a, &mut seen, |s| s.contains("event: ready")).await);

    send_readings(&app, &b, &tb, json!({"readings": [{"sensor": "t", "value": 111.0}]})).await.unwrap();
    send_readings(&app, &a, &ta, json!({"readings": [{"sensor": "t", "value": 222.5, "unit": "C"}]})).await.unwrap();
    assert!(read_until(&mut only_a, &mut seen, |s| s.contains("222.5")).await, "{seen}");
    assert!(!seen.contains("111"), "another device's reading leaked into a filtered stream");
    let data = seen.lines().find(|l| l.starts_with("data: [")).unwrap().trim_start_matches("data: ");
    let batch: Value = serde_json::from_str(data).unwrap();
    assert_eq!(batch[0]["device_id"], dev_a["id"]);
    assert_eq!(batch[0]["unit"], "C");
}

#[tokio::test]
async fn the_stream_needs_a_token_in_a_header() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let res = app.client.get(app.url(&format!("/api/v1/live?token={token}"))).send().await.unwrap();
    assert_eq!(error_code(res).await, (401, "token_missing".into()));
}

#[tokio::test]
async fn the_stream_ends_within_a_second_of_its_token_being_revoked() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let viewer_session = app.session(ADMIN, &app.admin_password).await;
    let t = viewer_session["token"].as_str().unwrap();
    let mut res = open(&app, t, "").await;
    let mut seen = String::new();
    assert!(read_until(&mut res, &mut seen, |s| s.contains("event: ready")).await);
    let revoked_at = Instant::now();
    let path = format!("/api/v1/tokens/{}/revoke", viewer_session["token_id"].as_str().unwrap());
    assert_eq!(app.post(&path, &admin, None).await.status(), 204);
    assert!(read_until(&mut res, &mut seen, |s| s.contains("token_revoked")).await, "{seen}");
    // Then the body ends.
    let end = tokio::time::timeout(Duration::from_secs(2), res.chunk()).await.expect("the stream closes");
    assert!(matches!(end, Ok(None)));
    assert!(revoked_at.elapsed() < Duration::from_secs(1), "ended in {:?}", revoked_at.elapsed());
}

#[tokio::test]
async fn the_stream_ends_when_its_token_expires() {
    let app = spawn_with(|s| s.token_ttl = Duration::from_secs(1)).await;
    let token = app.admin_token().await;
    let mut res = open(&app, &token, "").await;
    let mut seen = String::new();
    let started = Instant::now();
    assert!(read_until(&mut res, &mut seen, |s| s.contains("token_expired")).await, "{seen}");
    // 1 s lifetime + 2 s leeway + at most 1 s to notice.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}
