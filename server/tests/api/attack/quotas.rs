//! One viewer or one device using more than its share: live streams,
//! sensors, tokens, readings, and device lists that grow without end.

use app::types::{Device, ErrorCode, Reading};
use serde_json::{json, Value};

use crate::{device_helpers::*, helpers::*};

fn batch(sensors: impl Iterator<Item = String>) -> Value {
    let readings: Vec<Value> = sensors
        .map(|s| json!({"sensor": s, "value": 1.0}))
        .collect();
    json!({ "readings": readings })
}

#[tokio::test]
async fn a_fifth_live_stream_of_one_user_is_refused() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let open = || async {
        app.client
            .get(app.url("/api/v1/live"))
            .header("x-access-token", &token)
            .send()
            .await
            .unwrap()
    };
    let mut streams = Vec::new();
    for _ in 0..4 {
        let res = open().await;
        assert_eq!(res.status(), 200);
        streams.push(res);
    }
    let fifth = open().await;
    assert_eq!(fifth.status(), 429);
    assert!(fifth.headers().contains_key("retry-after"));
    assert_eq!(error_code(fifth).await.1, ErrorCode::RateLimited);
    // Another user is not held back by this one.
    let (_, viewer) = app
        .user_with_role(&token, "vic", app::types::Role::Viewer)
        .await;
    let theirs = app.get("/api/v1/live", &viewer).await;
    assert_eq!(theirs.status(), 200);
    // A closed stream frees its place.
    drop(streams.pop());
    let mut freed = false;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if open().await.status() == 200 {
            freed = true;
            break;
        }
    }
    assert!(freed);
}

#[tokio::test]
async fn a_batch_past_the_sensor_quota_is_refused_whole() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "many-sensors").await;
    let token = device_token(&app, &client).await.token;
    let res = send_readings(
        &app,
        &client,
        &token,
        batch((0..300).map(|i| format!("s{i}"))),
    )
    .await
    .unwrap();
    assert_eq!(error_code(res).await, (422, ErrorCode::ValidationFailed));
    let stored: Vec<Reading> = app
        .get(
            &format!("/api/v1/devices/{}/readings?limit=1000", device.id),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing of it stored");
    let res = send_readings(
        &app,
        &client,
        &token,
        batch((0..256).map(|i| format!("s{i}"))),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    let res = send_readings(
        &app,
        &client,
        &token,
        batch(["s0".to_owned(), "one-more".to_owned()].into_iter()),
    )
    .await
    .unwrap();
    assert_eq!(error_code(res).await, (422, ErrorCode::ValidationFailed));
    let known = send_readings(&app, &client, &token, batch(["s7".to_owned()].into_iter()))
        .await
        .unwrap();
    assert_eq!(known.status(), 202, "known sensors still go");
}

#[tokio::test]
async fn the_sixty_first_device_token_in_an_hour_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, client) = app.enrolled_device(&admin, "token-hungry").await;
    for _ in 0..60 {
        device_token(&app, &client).await;
    }
    let res = client
        .post(app.south_url("/device/v1/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(error_code(res).await.1, ErrorCode::RateLimited);
}

#[tokio::test]
async fn a_device_past_its_reading_rate_is_refused_and_nothing_of_the_batch_is_stored() {
    let app = spawn_with(|s| s.device_max_readings_per_s = 10).await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "chatty").await;
    let token = device_token(&app, &client).await.token;
    // Ten seconds' worth at once is allowed (a burst)...
    for _ in 0..10 {
        let res = send_readings(
            &app,
            &client,
            &token,
            batch((0..10).map(|i| format!("s{i}"))),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 202);
    }
    // ...then the device waits (fifty more would need five seconds).
    let res = send_readings(
        &app,
        &client,
        &token,
        batch((0..50).map(|i| format!("s{i}"))),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let stored: Vec<Reading> = app
        .get(
            &format!("/api/v1/devices/{}/readings?limit=1000", device.id),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored.len(), 100);
}

#[tokio::test]
async fn the_device_list_comes_in_pages_linked_to_the_end() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..5 {
        app.enrolled_device(&admin, &format!("paged-{i}")).await;
    }
    let mut next = Some("/api/v1/devices?limit=2".to_owned());
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let res = app.get(&path, &admin).await;
        assert_eq!(res.status(), 200);
        next = next_link(&res);
        let page: Vec<Device> = res.json().await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|d| d.registration_id));
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        (0..5).map(|i| format!("paged-{i}")).collect::<Vec<_>>()
    );
    for bad in ["limit=0", "limit=1001", "after=x"] {
        let res = app.get(&format!("/api/v1/devices?{bad}"), &admin).await;
        assert_eq!(
            error_code(res).await,
            (400, ErrorCode::ValidationFailed),
            "{bad}"
        );
    }
}
