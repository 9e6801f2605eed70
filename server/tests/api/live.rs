//! The live readings stream: header-authenticated, filtered, and ended
//! promptly when its token stops being good.

use std::time::{Duration, Instant};

use app::types::{ErrorCode, LiveReading, Role};
use serde_json::{json, Value};

use crate::{device_helpers::*, helpers::*};

/// Reads the stream until `pred` holds on what arrived, or the stream ends.
async fn read_until(
    res: &mut reqwest::Response,
    seen: &mut String,
    pred: impl Fn(&str) -> bool,
) -> bool {
    while !pred(seen) {
        match tokio::time::timeout(Duration::from_secs(5), res.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return false,
        }
    }
    true
}

async fn open(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/live{query}")))
        .header("x-access-token", token)
        .send()
        .await
        .unwrap();
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
    let ta = device_token(&app, &a).await.token;
    let tb = device_token(&app, &b).await.token;

    let mut only_a = open(&app, &admin, &format!("?device_id={}", dev_a.id)).await;
    let mut seen = String::new();
    assert!(read_until(&mut only_a, &mut seen, |s| s.contains("event: ready")).await);

    let res = send_readings(
        &app,
        &b,
        &tb,
        json!({"readings": [{"sensor": "t", "value": 111.0}]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    let res = send_readings(
        &app,
        &a,
        &ta,
        json!({"readings": [{"sensor": "t", "value": 222.5, "unit": "°C"}]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    assert!(
        read_until(&mut only_a, &mut seen, |s| s.contains("222.5")).await,
        "{seen}"
    );
    let readings: Vec<LiveReading> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: ["))
        .flat_map(|d| serde_json::from_str::<Vec<LiveReading>>(&format!("[{d}")).unwrap())
        .collect();
    assert_eq!(readings.len(), 1, "only device A's reading: {seen}");
    assert_eq!(readings[0].device_id, dev_a.id);
    assert_eq!(readings[0].unit.as_deref(), Some("°C"));
}

#[tokio::test]
async fn the_stream_needs_a_token_in_a_header() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/live?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, ErrorCode::TokenMissing));
}

#[tokio::test]
async fn the_stream_ends_within_a_second_of_its_token_being_revoked() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.user_with_role(&admin, "watcher", Role::Viewer).await;
    let viewer_session = app.session("watcher", STRONG).await;
    let t = viewer_session.token.as_str();
    let mut res = open(&app, t, "").await;
    let mut seen = String::new();
    assert!(read_until(&mut res, &mut seen, |s| s.contains("event: ready")).await);
    let revoked_at = Instant::now();
    let path = format!("/api/v1/tokens/{}/revoke", viewer_session.token_id);
    assert_eq!(app.post(&path, &admin, None).await.status(), 204);
    assert!(
        read_until(&mut res, &mut seen, |s| s
            .contains(ErrorCode::TokenRevoked.as_str()))
        .await,
        "{seen}"
    );
    // Then the body ends.
    let end = tokio::time::timeout(Duration::from_secs(2), res.chunk())
        .await
        .expect("the stream closes");
    assert!(matches!(end, Ok(None)));
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "ended in {:?}",
        revoked_at.elapsed()
    );
}

#[tokio::test]
async fn the_stream_ends_when_its_token_expires() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut res = open(&app, &token, "").await;
    let mut seen = String::new();
    assert!(read_until(&mut res, &mut seen, |s| s.contains("ready")).await);
    // The platform's clock moves past the token's hour (no waiting).
    app.app.state().clock.advance(Duration::from_secs(3601 + 2));
    let started = Instant::now();
    assert!(
        read_until(&mut res, &mut seen, |s| s
            .contains(ErrorCode::TokenExpired.as_str()))
        .await,
        "{seen}"
    );
    // A stream checks its token every 250 ms.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_ingestion_goes_on() {
    use std::sync::Arc;

    use rustls::{ClientConfig, RootCertStore};
    use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // One device sends far past its default rate here, on purpose.
    let app = spawn_with(|s| s.device_max_readings_per_s = 1_000_000).await;
    let admin = app.admin_token().await;
    let (_, _, dev) = app.enrolled_device(&admin, "firehose").await;
    let t = device_token(&app, &dev).await.token;

    // A raw HTTP/1.1 client that stops reading its socket after `ready`.
    let mut roots = RootCertStore::empty();
    let ca = std::fs::read(app.data_path().join("pki/platform-ca.pem")).unwrap();
    roots
        .add(CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let req = format!("GET /api/v1/live HTTP/1.1\r\nhost: x\r\nx-access-token: {admin}\r\n\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !String::from_utf8_lossy(&got).contains("event: ready") {
        let n = tls.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }

    // ~32 MB published while it does not read: ingestion must not wait.
    let big: Vec<Value> = (0..1000)
        .map(|i| json!({"sensor": "s", "value": i}))
        .collect();
    let body = json!({ "readings": big });
    // On the stream each reading takes over 80 bytes of JSON.
    let published = 320 * 1000 * 80;
    let started = Instant::now();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (dev, t, body, url) = (
                dev.clone(),
                t.clone(),
                body.clone(),
                app.south_url("/device/v1/readings"),
            );
            tokio::spawn(async move {
                for _ in 0..80 {
                    let res = dev
                        .post(&url)
                        .header("x-access-token", &t)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 202);
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(90));

    // Reading again: what was buffered, then the end of the response, long
    // before everything published could have arrived.
    let mut total = got.len();
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => {
                    total += n;
                    if buf[..n].ends_with(b"0\r\n\r\n") {
                        return true;
                    }
                }
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(ended, "the response ended");
    assert!(
        total < published / 2,
        "dropped rather than fed: {total} of {published} bytes"
    );
}

#[tokio::test]
async fn a_device_new_to_the_platform_is_announced_on_the_stream() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut all = open(&app, &admin, "").await;
    let mut seen = String::new();
    assert!(read_until(&mut all, &mut seen, |s| s.contains("event: ready")).await);
    let (device, _, _) = app.enrolled_device(&admin, "live-newcomer").await;
    assert!(
        read_until(&mut all, &mut seen, |s| s.contains("event: devices")
            && s.contains("\"registration_id\":\"live-newcomer\""))
        .await,
        "{seen}"
    );
    let line = seen
        .lines()
        .skip_while(|l| *l != "event: devices")
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let announced: app::types::Device = serde_json::from_str(line).unwrap();
    assert_eq!(announced.id, device.id);
}

/// `n` enrolled devices, each with its client and token.
async fn devices(
    app: &TestApp,
    admin: &str,
    prefix: &str,
    n: usize,
) -> Vec<(reqwest::Client, String)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (_, _, client) = app.enrolled_device(admin, &format!("{prefix}-{i}")).await;
        let token = device_token(app, &client).await.token;
        out.push((client, token));
    }
    out
}

#[tokio::test]
async fn a_burst_of_batches_reaches_a_stream_whole_in_fewer_larger_events() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let senders = devices(&app, &admin, "burst", 8).await;
    let mut stream = open(&app, &admin, "").await;
    let mut seen = String::new();
    assert!(read_until(&mut stream, &mut seen, |s| s.contains("event: ready")).await);
    // 8 devices × 5 requests × 10 readings, sent at once.
    let sends = senders.iter().enumerate().map(|(d, (client, token))| {
        let app = &app;
        async move {
            for k in 0..5 {
                let readings: Vec<Value> = (0..10)
                    .map(|r| json!({"sensor": "n", "value": (d * 1000 + k * 10 + r) as f64}))
                    .collect();
                let res = send_readings(app, client, token, json!({ "readings": readings }))
                    .await
                    .unwrap();
                assert_eq!(res.status(), 202);
            }
        }
    });
    let started = Instant::now();
    futures_util::future::join_all(sends).await;
    // Whole events only: a chunk may end inside one.
    let values = |seen: &str| -> Vec<f64> {
        let whole = &seen[..seen.rfind("\n\n").unwrap_or(0)];
        whole
            .lines()
            .filter_map(|l| l.strip_prefix("data: ["))
            .flat_map(|d| serde_json::from_str::<Vec<LiveReading>>(&format!("[{d}")).unwrap())
            .map(|r| r.value)
            .collect()
    };
    assert!(
        read_until(&mut stream, &mut seen, |s| values(s).len() >= 400).await,
        "{} of 400 readings arrived",
        values(&seen).len()
    );
    let mut got = values(&seen);
    got.sort_by(f64::total_cmp);
    got.dedup();
    assert_eq!(got.len(), 400, "each reading once");
    // One event per 25 ms at most, however many commits came in between.
    let took = started.elapsed();
    let events = seen.matches("event: readings").count();
    let most = (took.as_millis() / 25) as usize + 1;
    assert!(
        events <= most,
        "{events} events in {took:?} for 40 requests"
    );
}

#[tokio::test]
async fn large_commits_reach_a_stream_that_keeps_up_whole() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let senders = devices(&app, &admin, "large", 8).await;
    let mut stream = open(&app, &admin, "").await;
    let mut seen = String::new();
    assert!(read_until(&mut stream, &mut seen, |s| s.contains("event: ready")).await);
    // 8 × 1,000 readings at once: commits far larger than one stream's
    // byte budget (512 KiB) once serialized.
    let sends = senders.iter().enumerate().map(|(d, (client, token))| {
        let app = &app;
        async move {
            let readings: Vec<Value> = (0..1000)
                .map(|r| json!({"sensor": "a-rather-long-sensor-name", "value": (d * 1000 + r) as f64, "unit": "kPa"}))
                .collect();
            let res = send_readings(app, client, token, json!({ "readings": readings }))
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        }
    });
    futures_util::future::join_all(sends).await;
    let count = |seen: &str| seen.matches("\"device_id\"").count();
    assert!(
        read_until(&mut stream, &mut seen, |s| count(s) >= 8000).await,
        "{} of 8000 readings arrived; the stream ended: {}",
        count(&seen),
        seen.contains("event: end")
    );
}
