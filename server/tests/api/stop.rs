//! The orderly stop of the real binary: SIGTERM or SIGINT, and it stops
//! accepting, answers what is in flight, writes what it holds, closes
//! streams and MQTT sessions with a word, and exits 0 within 10 s.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rumqttc::v5::{
    mqttbytes::{v5::Packet, QoS},
    ConnectionError, Event, StateError,
};
use serde_json::{json, Value};
use sqlx::Row;

use crate::{helpers::*, process::Running};

/// Batches of this many readings; reading `k` of batch `seq` has the value
/// `seq * BATCH + k`, so each acknowledged batch can be found again.
const BATCH: i64 = 50;

#[tokio::test]
async fn sigterm_during_ingest_keeps_every_acknowledged_reading_and_exits_0_within_10_s() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let mut vigil = Running::start_with(
        data.path(),
        db_url.as_deref(),
        &password,
        &[("VIGIL_DEVICE_MAX_READINGS_PER_S", "1000000")],
    )
    .await;
    let admin = vigil.admin_token(&password).await;

    // Eight devices send batches as fast as they are acknowledged.
    let acked: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
    let mut senders = Vec::new();
    for d in 0..8 {
        let (id, client) = vigil.device(&admin, &format!("stop-{d}")).await;
        let token = vigil.device_token(&client).await;
        let url = vigil.south("/device/v1/readings");
        let acked = acked.clone();
        senders.push(tokio::spawn(async move {
            for seq in 0.. {
                let readings: Vec<Value> = (0..BATCH)
                    .map(|k| json!({"sensor": "s", "value": seq * BATCH + k}))
                    .collect();
                let sent = client
                    .post(&url)
                    .header("x-access-token", &token)
                    .json(&json!({ "readings": readings }))
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status() == 202 => acked.lock().unwrap().push((id, seq)),
                    // Refused or cut off: nothing was promised.
                    _ => return seq,
                }
            }
            unreachable!()
        }));
    }

    // A device on MQTT 5.0, a viewer's live stream and a device's long-poll.
    let (_, mqtt_http, cert) = vigil.device_with_cert(&admin, "stop-mqtt").await;
    let mqtt_token = vigil.device_token(&mqtt_http).await;
    let (mqtt, mut el) = vigil.mqtt_device(&cert, "stop-mqtt", &mqtt_token);
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = el.poll().await.unwrap() {
            break;
        }
    }
    // (The stream follows the quiet device: one following the busy ones
    // and not read would be dropped as too slow.)
    let (poller_id, poller) = vigil.device(&admin, "stop-poll").await;
    let mut live = vigil
        .client
        .get(vigil.north(&format!("/api/v1/live?device_id={poller_id}")))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let poll_token = vigil.device_token(&poller).await;
    // And a sender waiting for its command's end (the device never asks).
    let (idle_id, _) = vigil.device(&admin, "idle-commanded").await;
    let waiting_sender = tokio::spawn({
        let req = vigil
            .client
            .post(vigil.north(&format!("/api/v1/devices/{idle_id}/commands?wait=60")))
            .header("x-access-token", &admin)
            .json(&json!({"name": "start"}));
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap(), Instant::now())
        }
    });
    let long_poll = tokio::spawn({
        let req = poller
            .get(vigil.south("/device/v1/commands?wait=60"))
            .header("x-access-token", &poll_token);
        async move {
            let res = req.send().await.unwrap();
            (
                res.status().as_u16(),
                res.text().await.unwrap(),
                Instant::now(),
            )
        }
    });

    // The MQTT device publishes batches at QoS 1 as fast as it may (16 in
    // flight), counting the PUBACKs.
    let publisher = tokio::spawn(async move {
        for seq in 0.. {
            let readings: Vec<Value> = (0..BATCH)
                .map(|k| json!({"sensor": "m", "value": seq * BATCH + k}))
                .collect();
            let sent = mqtt
                .publish(
                    "vigil/devices/stop-mqtt/readings",
                    QoS::AtLeastOnce,
                    false,
                    json!({ "readings": readings }).to_string(),
                )
                .await;
            if sent.is_err() {
                return;
            }
        }
    });
    let pubacks = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mqtt_session = tokio::spawn({
        let pubacks = pubacks.clone();
        async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        // A PUBACK with a refusal in it promises nothing.
                        assert_eq!(
                            ack.reason,
                            rumqttc::v5::mqttbytes::v5::PubAckReason::Success
                        );
                        pubacks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(e) => return e,
                }
            }
        }
    });

    // The long-poll is waiting (it has no other sign of it), and ingest is
    // under way on both protocols.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(Duration::from_secs(30), async {
        while acked.lock().unwrap().len() < 40
            || pubacks.load(std::sync::atomic::Ordering::SeqCst) < 5
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("ingest under way on HTTPS and MQTT");
    let (status, took) = vigil.signal("TERM").await;
    let exited = Instant::now();
    assert!(status.success(), "{status}: {:?}", vigil.log_lines());
    assert!(took < Duration::from_secs(10), "exited after {took:?}");

    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);

    // The long-poll was answered (no command), before the exit.
    let (poll_status, poll_body, answered) = long_poll.await.unwrap();
    assert_eq!((poll_status, poll_body.as_str()), (200, "[]"));
    assert!(answered <= exited + Duration::from_millis(100));
    // The sender got its command as it stood: created, still queued.
    let (sent_status, command, answered) = waiting_sender.await.unwrap();
    assert_eq!(
        (sent_status, command["status"].as_str()),
        (201, Some("queued"))
    );
    assert!(answered <= exited + Duration::from_millis(100));
    // The live stream said why it ended.
    let mut seen = String::new();
    while let Ok(Some(chunk)) = live.chunk().await {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("event: end") && seen.contains(r#"{"reason":"shutdown"}"#),
        "{seen}"
    );
    // The MQTT session was ended by the server shutting down (0x8B).
    let ended = mqtt_session.await.unwrap();
    publisher.abort();
    match ended {
        ConnectionError::MqttState(StateError::ServerDisconnect { reason_code, .. }) => assert_eq!(
            reason_code,
            rumqttc::v5::mqttbytes::v5::DisconnectReasonCode::ServerShuttingDown
        ),
        other => panic!("{other:?}"),
    }

    // Every acknowledged reading is stored, on either engine.
    let url = db_url.unwrap_or_else(|| format!("sqlite://{}/vigil.db", data.path().display()));
    let db = vigil::db::connect(&url, "vigil-test").await.unwrap();
    let rows = sqlx::query("SELECT device_id, value FROM readings WHERE sensor = 's'")
        .fetch_all(&db)
        .await
        .unwrap();
    let stored: HashSet<(i64, i64)> = rows
        .iter()
        .map(|r| (r.get::<i64, _>(0), r.get::<f64, _>(1) as i64))
        .collect();
    for (device, seq) in &acked {
        for k in 0..BATCH {
            assert!(
                stored.contains(&(*device, seq * BATCH + k)),
                "device {device}, batch {seq}: acknowledged but not stored"
            );
        }
    }
    // Every acknowledged MQTT batch is stored too. PUBACKs come in the
    // order of the PUBLISHes, which carried batches 0, 1, 2…
    let rows = sqlx::query("SELECT value FROM readings WHERE sensor = 'm'")
        .fetch_all(&db)
        .await
        .unwrap();
    let mqtt_stored: HashSet<i64> = rows.iter().map(|r| r.get::<f64, _>(0) as i64).collect();
    let pubacks = pubacks.load(std::sync::atomic::Ordering::SeqCst);
    for value in 0..pubacks * BATCH {
        assert!(
            mqtt_stored.contains(&value),
            "MQTT reading {value} acknowledged ({pubacks} PUBACKs) but not stored"
        );
    }
    // And only whole batches.
    assert_eq!(mqtt_stored.len() as i64 % BATCH, 0);
    // Last seen was written at the stop, not left for a flush that never came.
    let unseen: i64 =
        sqlx::query("SELECT COUNT(*) FROM devices WHERE registration_id LIKE 'stop-%' AND registration_id <> 'stop-poll' AND registration_id <> 'stop-mqtt' AND last_seen IS NULL")
            .fetch_one(&db)
            .await
            .unwrap()
            .get(0);
    assert_eq!(unseen, 0);
}

#[tokio::test]
async fn sigint_stops_an_idle_instance_at_once_and_frees_its_database() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let mut vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    // An idle keep-alive connection does not hold the stop up.
    assert_eq!(vigil.me(&admin).await, 200);
    let (status, took) = vigil.signal("INT").await;
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(3), "exited after {took:?}");
    assert!(
        vigil
            .log_lines()
            .iter()
            .any(|l| l.trim_end().ends_with(" stopped")),
        "{:?}",
        vigil.log_lines()
    );
    // Nothing listens any more, and the data dir (SQLite's lock included)
    // is free for the next start, which finds the same users.
    assert!(vigil
        .client
        .get(vigil.north("/healthz"))
        .send()
        .await
        .is_err());
    let again = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = again.admin_token(&password).await;
    assert_eq!(again.me(&admin).await, 200);
}

#[tokio::test]
async fn a_second_signal_exits_without_waiting_for_the_drain() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let mut vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    // A request in flight that will not end by itself: its body never
    // comes whole, so the stop waits for it (up to its grace).
    let connector = tokio_rustls::TlsConnector::from(crate::mqtt::tls_config(&vigil.ca_pem, None));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", vigil.north))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nhost: 127.0.0.1\r\n\
          content-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    vigil.send_signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        vigil.child.try_wait().unwrap().is_none(),
        "the first signal waits for the request in flight"
    );
    let (status, took) = vigil.signal("TERM").await;
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(took < Duration::from_secs(2), "exited after {took:?}");
    drop(tls);
}
