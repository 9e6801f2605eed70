//! Readings: batches stored whole or refused whole, the newest value of each
//! sensor, last_seen, and the checks on reading queries.

use app::types::{Device, DeviceStatus, ErrorBody, ErrorCode, Reading};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::one_reading;
use crate::{device_helpers::*, helpers::*};

#[tokio::test]
async fn a_self_signed_device_gets_a_bound_token_and_its_readings_are_stored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, cert, client) = app.enrolled_device(&admin, "sensor-1").await;
    assert_eq!(device.status, DeviceStatus::Active);
    assert_eq!(device.cert_sha256, cert.thumbprint());

    let token = device_token(&app, &client).await;
    let claims: Value = {
        let part = token.token.split('.').nth(1).unwrap();
        serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
    };
    assert_eq!(claims["typ"], "device");
    assert_eq!(claims["sub"], device.id.to_string());
    let x5t = B64.encode(Sha256::digest(&cert.der));
    assert_eq!(claims["cnf"]["x5t#S256"], x5t);

    let t = &token.token;
    let body = json!({ "readings": [
        { "sensor": "temperature", "value": 21.5, "unit": "C", "ts": "2026-11-22T10:00:00Z" },
        { "sensor": "temperature", "value": 22.0, "unit": "C", "ts": "2026-11-22T10:01:00Z" },
        { "sensor": "humidity", "value": 40 }
    ]});
    let res = send_readings(&app, &client, t, body).await.unwrap();
    assert_eq!(res.status(), 202);
    // The exact answer, no more.
    assert_eq!(res.json::<Value>().await.unwrap(), json!({ "accepted": 3 }));

    let id = device.id;
    let temps: Vec<Reading> = app
        .get(
            &format!("/api/v1/devices/{id}/readings?sensor=temperature"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(temps.len(), 2);
    assert_eq!(temps[0].value, 22.0, "newest first");
    assert_eq!(temps[0].ts, "2026-11-22T10:01:00.000Z");
    assert_eq!(temps[1].unit.as_deref(), Some("C"));
    let ranged: Vec<Reading> = app
        .get(
            &format!(
                "/api/v1/devices/{id}/readings?from=2026-11-22T10:00:30Z&to=2026-11-22T10:05:00Z"
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ranged.len(), 1);
}

#[tokio::test]
async fn bad_batches_are_refused_whole() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "batcher").await;
    let t = device_token(&app, &client).await.token;
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"sensor": "s", "value": i}))
        .collect();
    let cases = [
        json!({ "readings": too_many }),
        json!({ "readings": [] }),
        json!({ "readings": [{"sensor": "ok", "value": 1}, {"sensor": "bad name!", "value": 2}] }),
        json!({ "readings": [{"sensor": "ok", "value": 1}, {"sensor": "ok", "value": "NaN"}] }),
        json!({ "readings": [{"sensor": "ok", "value": 1, "ts": "not a time"}] }),
        json!({ "readings": [{"sensor": "ok", "value": 1, "ts": "2999-01-01T00:00:00Z"}] }),
        json!({ "nothing": true }),
    ];
    for body in cases {
        let res = send_readings(&app, &client, &t, &body).await.unwrap();
        let (status, code) = error_code(res).await;
        assert_eq!(code, ErrorCode::ValidationFailed, "{body:.80}");
        assert!(status == 400 || status == 422);
    }
    let raw = client
        .post(app.south_url("/device/v1/readings"))
        .header("x-access-token", &t)
        .header("content-type", "application/json")
        .body("{\"readings\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(raw).await, (400, ErrorCode::ValidationFailed));
    let huge = format!(
        "{{\"readings\": [{{\"sensor\": \"{}\", \"value\": 1}}]}}",
        "a".repeat(300 * 1024)
    );
    let res = client
        .post(app.south_url("/device/v1/readings"))
        .header("x-access-token", &t)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (413, ErrorCode::PayloadTooLarge));
    let id = device.id;
    let stored: Vec<Reading> = app
        .get(&format!("/api/v1/devices/{id}/readings"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing partial was stored");
}

#[tokio::test]
async fn last_seen_is_kept_without_a_write_per_request() {
    let app = spawn_with(|s| s.last_seen_flush = std::time::Duration::from_secs(3600)).await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "seen").await;
    assert!(device.last_seen.is_none());
    let t = device_token(&app, &client).await.token;
    send_readings(&app, &client, &t, one_reading(1.0))
        .await
        .unwrap();
    let id = device.id;
    let before: Device = app
        .get(&format!("/api/v1/devices/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(before.last_seen.is_none(), "not written per request");
    app.app.state().devices.flush_last_seen().await;
    let after: Device = app
        .get(&format!("/api/v1/devices/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(after.last_seen.is_some());
}

#[tokio::test]
async fn devices_show_the_newest_value_of_each_sensor() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "latest").await;
    let t = device_token(&app, &client).await.token;
    let body = json!({ "readings": [
        { "sensor": "temperature", "value": 20.0, "unit": "C", "ts": "2026-11-22T10:02:00Z" },
        { "sensor": "temperature", "value": 19.0, "unit": "C", "ts": "2026-11-22T10:00:00Z" },
        { "sensor": "humidity", "value": 40 }
    ]});
    assert_eq!(
        send_readings(&app, &client, &t, body)
            .await
            .unwrap()
            .status(),
        202
    );
    // An older reading arriving later does not replace the newest.
    let late = json!({ "readings": [{ "sensor": "temperature", "value": 5.0, "ts": "2026-11-22T09:00:00Z" }] });
    assert_eq!(
        send_readings(&app, &client, &t, late)
            .await
            .unwrap()
            .status(),
        202
    );
    let list = app.devices(&admin).await;
    let latest = &list[0].latest;
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[0].sensor, "humidity");
    assert_eq!(latest[1].sensor, "temperature");
    assert_eq!(latest[1].value, 20.0);
    assert_eq!(latest[1].ts, "2026-11-22T10:02:00.000Z");
    let one: Device = app
        .get(&format!("/api/v1/devices/{}", device.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one.latest, list[0].latest);
}

#[tokio::test]
async fn reading_queries_and_oversized_csrs_are_refused_as_client_errors() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, _) = app.enrolled_device(&admin, "queried").await;
    let id = device.id;
    let long = "s".repeat(65);
    for q in [
        "limit=0",
        "limit=1001",
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        &format!("sensor={long}"),
    ] {
        let res = app
            .get(&format!("/api/v1/devices/{id}/readings?{q}"), &admin)
            .await;
        assert_eq!(
            error_code(res).await,
            (400, ErrorCode::ValidationFailed),
            "{q}"
        );
    }
    assert_eq!(
        error_code(app.get("/api/v1/devices/999/readings", &admin).await)
            .await
            .1,
        ErrorCode::NotFound
    );
    assert_eq!(
        error_code(app.get("/api/v1/live?device_id=x", &admin).await)
            .await
            .1,
        ErrorCode::ValidationFailed
    );
    let (csr_pem, _) = csr("big");
    let padded = format!("{}{csr_pem}", "\n".repeat(17 * 1024));
    let res = app
        .try_enroll(
            &admin,
            &json!({"registration_id": "big", "name": "n", "csr_pem": padded}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: ErrorBody = res.json().await.unwrap();
    assert_eq!(body.error, ErrorCode::ValidationFailed);
    assert!(body.message.contains("too large"), "{body:?}");
}

#[tokio::test]
async fn readings_stored_longer_ago_than_the_retention_are_deleted_in_batches() {
    use sqlx::Row;
    use std::time::Duration;
    let app = spawn_with(|s| {
        s.readings_retention = vigil::settings::Retention(Some(Duration::from_secs(3600)));
        s.sweep_interval = Duration::from_secs(1);
    })
    .await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "retained").await;
    let token = device_token(&app, &client).await.token;
    // Stored now, though measured two days ago: kept (retention counts from
    // when a reading was stored).
    let two_days_ago = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let res = send_readings(
        &app,
        &client,
        &token,
        json!({"readings": [{"sensor": "t", "value": 1.0, "ts": two_days_ago}, {"sensor": "t", "value": 2.0}]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    // 12,000 stored two hours ago: more than two batches.
    let db = &app.app.state().db;
    let old = chrono::Utc::now().timestamp() - 7200;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000) \
         INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) \
         SELECT $1, 'old', i, NULL, $2 * 1000, $2 FROM n",
    )
    .bind(device.id)
    .bind(old)
    .execute(db)
    .await
    .unwrap();
    let count = |sensor: &'static str| async move {
        sqlx::query("SELECT COUNT(*) FROM readings WHERE sensor = $1")
            .bind(sensor)
            .fetch_one(db)
            .await
            .unwrap()
            .get::<i64, _>(0)
    };
    assert_eq!(count("old").await, 12_000);
    let started = std::time::Instant::now();
    while count("old").await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "old readings still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count("t").await, 2, "the recent ones stay");
    // Nothing more to delete.
    assert_eq!(
        vigil::readings::trim(db, Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
}

/// Batches of `n` readings of one sensor.
fn batch_of(n: usize, sensor: &str) -> Value {
    let readings: Vec<Value> = (0..n)
        .map(|i| json!({ "sensor": sensor, "value": i as f64 }))
        .collect();
    json!({ "readings": readings })
}

#[tokio::test]
async fn the_sqlite_log_is_copied_into_the_database_file_by_its_own_task() {
    let app = spawn_app().await;
    if app.settings.database_url.is_some() {
        return; // PostgreSQL: no write-ahead log of ours to checkpoint.
    }
    let admin = app.admin_token().await;
    let (_, _, client) = app.enrolled_device(&admin, "checkpointed").await;
    let token = device_token(&app, &client).await.token;
    let file = app.data_path().join("vigil.db");
    let before = std::fs::metadata(&file).unwrap().len();
    for _ in 0..10 {
        let res = send_readings(&app, &client, &token, batch_of(1000, "t"))
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
    }
    // 10,000 readings are far below SQLite's automatic threshold (set to
    // 65,536 pages): only the checkpoint task moves them into the file.
    let took = held_since(std::time::Instant::now(), || async {
        std::fs::metadata(&file).unwrap().len() > before + 200 * 1024
    })
    .await;
    assert!(
        took < std::time::Duration::from_secs(3),
        "the database file stayed at {} bytes",
        std::fs::metadata(&file).unwrap().len()
    );
}

#[tokio::test]
async fn the_writer_replaces_a_connection_the_database_closed_without_losing_a_batch() {
    use sqlx::Row;
    let app = spawn_app().await;
    if app.settings.database_url.is_none() {
        return; // Only PostgreSQL ends sessions from the outside.
    }
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "reconnected").await;
    let token = device_token(&app, &client).await.token;
    let res = send_readings(&app, &client, &token, batch_of(3, "before"))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // Every other session of this instance ends, the writer's among them
    // (an administrator's pg_terminate_backend, as a restart would).
    let db = &app.app.state().db;
    let cut = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1 \
         AND pid <> pg_backend_pid()",
    )
    .bind(app.app.instance())
    .fetch_all(db)
    .await
    .unwrap();
    assert!(!cut.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // The next batch is stored at the first try, once.
    let res = send_readings(&app, &client, &token, batch_of(5, "after"))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let stored: i64 =
        sqlx::query("SELECT COUNT(*) FROM readings WHERE device_id = $1 AND sensor = 'after'")
            .bind(device.id)
            .fetch_one(db)
            .await
            .unwrap()
            .get(0);
    assert_eq!(stored, 5);
}

#[tokio::test]
async fn an_aggregate_sums_up_each_sensor_per_bucket_over_a_range() {
    use app::types::ReadingsAggregate;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "aggregated").await;
    let token = device_token(&app, &client).await.token;
    let (_, _, other) = app.enrolled_device(&admin, "not-aggregated").await;
    let other_token = device_token(&app, &other).await.token;
    let at = |s: &str| format!("2026-11-22T10:{s}Z");
    let body = json!({ "readings": [
        { "sensor": "t", "value": 1.0, "unit": "C", "ts": at("00:00") },
        { "sensor": "t", "value": 3.0, "ts": at("00:59.999") },
        { "sensor": "t", "value": 10.0, "ts": at("01:00") },
        { "sensor": "t", "value": -4.0, "ts": at("09:59.999") },
        { "sensor": "t", "value": 99.0, "ts": at("10:00") },
        { "sensor": "h", "value": 40.0, "ts": at("05:30") },
        { "sensor": "h", "value": 50.0, "ts": at("05:45") },
    ]});
    let res = send_readings(&app, &client, &token, body).await.unwrap();
    assert_eq!(res.status(), 202);
    let res = send_readings(
        &app,
        &other,
        &other_token,
        json!({ "readings": [{ "sensor": "t", "value": 1000.0, "ts": at("00:10") }] }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);

    let id = device.id;
    let range = format!("from={}&to={}", at("00:00"), at("09:59.999"));
    let res = app
        .get(
            &format!("/api/v1/devices/{id}/readings/aggregate?{range}&buckets=10"),
            &admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    let agg: ReadingsAggregate = res.json().await.unwrap();
    assert_eq!(agg.bucket_ms, 60_000);
    assert_eq!(agg.from, "2026-11-22T10:00:00.000Z");
    let got: Vec<(&str, &str, i64, f64, f64, f64)> = agg
        .buckets
        .iter()
        .map(|b| {
            (
                b.sensor.as_str(),
                &b.start[11..19],
                b.count,
                b.min,
                b.max,
                b.avg,
            )
        })
        .collect();
    // By sensor, then time; the other device's reading and the one past
    // `to` are not counted; empty buckets are left out.
    assert_eq!(
        got,
        vec![
            ("h", "10:05:00", 2, 40.0, 50.0, 45.0),
            ("t", "10:00:00", 2, 1.0, 3.0, 2.0),
            ("t", "10:01:00", 1, 10.0, 10.0, 10.0),
            ("t", "10:09:00", 1, -4.0, -4.0, -4.0),
        ]
    );
    // One sensor only.
    let agg: ReadingsAggregate = app
        .get(
            &format!("/api/v1/devices/{id}/readings/aggregate?{range}&buckets=1&sensor=t"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agg.buckets.len(), 1);
    assert_eq!((agg.buckets[0].count, agg.buckets[0].max), (4, 10.0));
    // A viewer may read it too; the default range is the last day (these
    // readings are older).
    let (_, viewer) = app
        .user_with_role(&admin, "agg-viewer", app::types::Role::Viewer)
        .await;
    let agg: ReadingsAggregate = app
        .get(&format!("/api/v1/devices/{id}/readings/aggregate"), &viewer)
        .await
        .json()
        .await
        .unwrap();
    assert!(agg.buckets.is_empty());
    assert_eq!(
        agg.bucket_ms, 720_001,
        "a day and a millisecond in 120 buckets"
    );

    for bad in [
        "buckets=0".to_owned(),
        "buckets=1001".to_owned(),
        "buckets=many".to_owned(),
        format!("from={}&to={}", at("05:00"), at("05:00")),
        format!("from={}&to={}", at("06:00"), at("05:00")),
        "from=yesterday".to_owned(),
        "sensor=has%20space".to_owned(),
    ] {
        let (status, code) = error_code(
            app.get(
                &format!("/api/v1/devices/{id}/readings/aggregate?{bad}"),
                &admin,
            )
            .await,
        )
        .await;
        assert_eq!((status, code), (400, ErrorCode::ValidationFailed), "{bad}");
    }
    let (status, _) = error_code(
        app.get("/api/v1/devices/999999/readings/aggregate", &admin)
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let res = app
        .client
        .get(app.url(&format!("/api/v1/devices/{id}/readings/aggregate")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn history_pages_follow_link_and_the_csv_export_streams_every_reading_oldest_first() {
    let app = spawn_with(|s| s.device_max_readings_per_s = 1_000_000).await;
    let admin = app.admin_token().await;
    let (device, _, client) = app.enrolled_device(&admin, "exporter").await;
    let t = device_token(&app, &client).await.token;
    let id = device.id;
    // Several readings to a second (ties a page may not split), and a unit
    // a CSV field must quote.
    let body = json!({ "readings": [
        { "sensor": "t", "value": 1.5, "unit": "C", "ts": "2026-11-22T10:00:00Z" },
        { "sensor": "t", "value": 2, "unit": "C", "ts": "2026-11-22T10:00:00Z" },
        { "sensor": "h", "value": 3, "unit": "\"%\", rel", "ts": "2026-11-22T10:00:00Z" },
        { "sensor": "t", "value": 4, "ts": "2026-11-22T10:00:01Z" },
        { "sensor": "t", "value": 5, "ts": "2026-11-22T10:00:02Z" },
        { "sensor": "f", "value": 6, "unit": "=HYPERLINK(1)", "ts": "2026-11-22T10:00:03Z" },
    ]});
    assert_eq!(
        send_readings(&app, &client, &t, body)
            .await
            .unwrap()
            .status(),
        202
    );
    let all: Vec<Reading> = app
        .get(&format!("/api/v1/devices/{id}/readings"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let mut paged = Vec::new();
    let mut next = Some(format!("/api/v1/devices/{id}/readings?limit=2"));
    while let Some(path) = next.take() {
        let res = app.get(&path, &admin).await;
        assert_eq!(res.status(), 200, "{path}");
        next = next_link(&res);
        let page: Vec<Reading> = res.json().await.unwrap();
        assert!(page.len() <= 2);
        paged.extend(page);
        assert!(paged.len() <= 6, "a reading repeated");
    }
    assert_eq!(paged, all, "every reading once, newest first");
    let res = app
        .get(
            &format!("/api/v1/devices/{id}/readings?sensor=t&limit=1"),
            &admin,
        )
        .await;
    let link = res.headers()["link"].to_str().unwrap();
    assert!(link.contains("sensor=t"), "the filter kept: {link}");

    let csv = |q: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let res = app
                .get(&format!("/api/v1/devices/{id}/readings.csv{q}"), &admin)
                .await;
            assert_eq!(res.status(), 200, "{q}");
            assert!(res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"));
            assert!(res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment"));
            res.text().await.unwrap()
        }
    };
    let text = csv(String::new()).await;
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines[0], "ts,sensor,value,unit");
    assert_eq!(lines.len(), 7, "{text}");
    assert!(
        lines[1..4].contains(&"2026-11-22T10:00:00.000Z,h,3,\"\"\"%\"\", rel\""),
        "{text}"
    );
    assert_eq!(lines[4], "2026-11-22T10:00:01.000Z,t,4,");
    assert_eq!(lines[5], "2026-11-22T10:00:02.000Z,t,5,");
    assert_eq!(
        lines[6], "2026-11-22T10:00:03.000Z,f,6,'=HYPERLINK(1)",
        "a unit that reads as a formula is not one in a spreadsheet"
    );
    let ranged = csv("?sensor=t&from=2026-11-22T10:00:01Z&to=2026-11-22T10:00:01Z".into()).await;
    assert_eq!(
        ranged,
        "ts,sensor,value,unit\r\n2026-11-22T10:00:01.000Z,t,4,\r\n"
    );

    // More than a chunk of the export: every reading once, in order.
    for batch in 0..6 {
        let readings: Vec<Value> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                json!({ "sensor": "bulk", "value": n,
                    "ts": format!("2026-11-23T{:02}:{:02}:{:02}Z", n / 3600, n / 60 % 60, n % 60) })
            })
            .collect();
        let res = send_readings(&app, &client, &t, json!({ "readings": readings }))
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
    }
    let bulk = csv("?sensor=bulk".into()).await;
    let values: Vec<i64> = bulk
        .split_terminator("\r\n")
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(values, (0..6000).collect::<Vec<_>>());

    for (q, status) in [
        ("?from=yesterday", 400),
        ("?sensor=a%20b", 400),
        ("?from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z", 400),
    ] {
        let res = app
            .get(&format!("/api/v1/devices/{id}/readings.csv{q}"), &admin)
            .await;
        assert_eq!(res.status(), status, "{q}");
    }
    for bad in ["cursor=x", "cursor=1.x", "cursor=."] {
        let res = app
            .get(&format!("/api/v1/devices/{id}/readings?{bad}"), &admin)
            .await;
        assert_eq!(
            error_code(res).await,
            (400, ErrorCode::ValidationFailed),
            "{bad}"
        );
    }
    let res = app.get("/api/v1/devices/999999/readings.csv", &admin).await;
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .get(app.url(&format!("/api/v1/devices/{id}/readings.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
