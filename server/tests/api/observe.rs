//! Observing a running instance: Prometheus metrics on `VIGIL_METRICS_ADDR`
//! and JSON log lines, from the real binary.

use std::time::Duration;

use rumqttc::v5::{mqttbytes::v5::Packet, Event};
use serde_json::{json, Value};

use crate::{
    device_helpers::*,
    helpers::*,
    process::{sample, Running},
};

#[tokio::test]
async fn metrics_count_requests_refusals_handshakes_readings_and_sessions() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start_with(
        data.path(),
        db_url.as_deref(),
        &password,
        &[("VIGIL_HEADER_TIMEOUT", "1s")],
    )
    .await;
    let admin = vigil.admin_token(&password).await;
    // A connection to the device listener that never starts its handshake.
    let silent = tokio::net::TcpStream::connect(("127.0.0.1", vigil.south))
        .await
        .unwrap();

    // A refused token, and a path no route takes.
    let res = vigil
        .client
        .get(vigil.north("/api/v1/auth/me"))
        .header("x-access-token", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let code = res.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = vigil
        .client
        .get(vigil.north("/api/v1/no-such-route-7f3a"))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // A method of a client's own making.
    let res = vigil
        .client
        .request(
            reqwest::Method::from_bytes(b"FROB7F3A").unwrap(),
            vigil.north("/api/v1/auth/me"),
        )
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    // A device certificate nobody enrolled: refused at the handshake.
    let stranger = vigil.device_client(&self_signed("stranger", CertSpec::default()));
    assert!(stranger
        .post(vigil.south("/device/v1/token"))
        .send()
        .await
        .is_err());
    // Readings from an enrolled device, over a handshake that is accepted.
    let (_, device, cert) = vigil.device_with_cert(&admin, "metered").await;
    let token = vigil.device_token(&device).await;
    let readings: Vec<Value> = (0..10)
        .map(|i| json!({"sensor": "t", "value": i}))
        .collect();
    let res = device
        .post(vigil.south("/device/v1/readings"))
        .header("x-access-token", &token)
        .json(&json!({ "readings": readings }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // A live stream and an MQTT session, open while the metrics are read.
    let live = vigil
        .client
        .get(vigil.north("/api/v1/live"))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let (_mqtt, mut el) = vigil.mqtt_device(&cert, "metered", &token);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = el.poll().await.unwrap() {
            break;
        }
    }
    let session = tokio::spawn(async move { while el.poll().await.is_ok() {} });

    // The session is registered just after its CONNACK is sent.
    let mut m = String::new();
    for _ in 0..50 {
        m = vigil.metrics().await;
        if sample(&m, r#"vigil_mqtt_sessions{listener="devices"}"#) == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expect = |name: &str, value: f64| {
        assert_eq!(sample(&m, name), Some(value), "{name} in\n{m}");
    };
    expect(
        r#"vigil_http_requests_total{listener="north",method="POST",route="/api/v1/auth/login",status="200"}"#,
        1.0,
    );
    expect(
        r#"vigil_http_requests_total{listener="north",method="GET",route="/api/v1/auth/me",status="401"}"#,
        1.0,
    );
    expect(
        r#"vigil_http_requests_total{listener="devices",method="POST",route="/device/v1/readings",status="202"}"#,
        1.0,
    );
    expect(
        &format!(r#"vigil_gateway_refusals_total{{code="{code}"}}"#),
        1.0,
    );
    expect(
        r#"vigil_tls_handshakes_total{listener="devices",outcome="refused"}"#,
        1.0,
    );
    expect(
        r#"vigil_tls_handshakes_total{listener="mqtt_devices",outcome="accepted"}"#,
        1.0,
    );
    expect("vigil_readings_stored_total", 10.0);
    expect("vigil_commit_seconds_count", 1.0);
    expect("vigil_writer_queue_depth", 0.0);
    expect("vigil_live_streams", 1.0);
    expect(r#"vigil_mqtt_sessions{listener="devices"}"#, 1.0);
    // A path no route takes is counted as such, never by its text (which
    // could be anything a client sends); no token appears.
    assert!(m.contains(r#"route="unmatched""#), "{m}");
    assert!(!m.contains("no-such-route-7f3a"), "{m}");
    // Nor a method a client made up.
    expect(
        r#"vigil_http_requests_total{listener="north",method="other",route="/api/v1/auth/me",status="405"}"#,
        1.0,
    );
    assert!(!m.contains("FROB7F3A"), "{m}");
    assert!(!m.contains(&admin) && !m.contains(&token));

    // The silent connection was dropped at the header deadline.
    let mut timed_out = None;
    for _ in 0..50 {
        timed_out = sample(
            &vigil.metrics().await,
            r#"vigil_tls_handshakes_total{listener="devices",outcome="timeout"}"#,
        );
        if timed_out.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(timed_out, Some(1.0));
    drop(silent);

    // Closed, they are counted out.
    drop(live);
    session.abort();
    let mut gone = String::new();
    for _ in 0..50 {
        gone = vigil.metrics().await;
        if sample(&gone, "vigil_live_streams") == Some(0.0)
            && sample(&gone, r#"vigil_mqtt_sessions{listener="devices"}"#) == Some(0.0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("streams and sessions still counted after closing:\n{gone}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start_with(
        data.path(),
        db_url.as_deref(),
        &password,
        &[("VIGIL_LOG_FORMAT", "json")],
    )
    .await;
    let secret = "eyJhbGciOiJFZERTQSJ9.not-a-real-token.x";
    let res = vigil
        .client
        .get(vigil.north("/api/v1/auth/me"))
        .header("x-access-token", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut refusal = None;
    for _ in 0..50 {
        refusal = vigil.log_lines().into_iter().find(|l| l.contains(&id));
        if refusal.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refusal: Value = serde_json::from_str(&refusal.expect("the refusal is logged")).unwrap();
    assert_eq!(refusal["level"], "WARN", "{refusal}");
    assert_eq!(refusal["span"]["request_id"], id.as_str(), "{refusal}");
    assert_eq!(refusal["span"]["path"], "/api/v1/auth/me", "{refusal}");
    let lines = vigil.log_lines();
    assert!(lines.iter().any(|l| l.contains("vigil is serving")));
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.is_object() && v["timestamp"].is_string(), "{line}");
        assert!(!line.contains(secret), "{line}");
    }
}
