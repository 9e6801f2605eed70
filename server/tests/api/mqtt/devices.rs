//! The device listener.

use std::time::Duration;

use app::types::{Command, CommandStatus, TokenInfo};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::{device_helpers::*, helpers::*};

#[tokio::test]
async fn a_device_publishes_readings_over_mqtt_3_1_1_and_5_acknowledged_once_stored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, cert, token) = device(&app, &admin, "mqtt-meter").await;
    let topic = "vigil/devices/mqtt-meter/readings";

    let (client, mut el) = v4_client(&app, &cert, "mqtt-meter", &token);
    until_v4(&mut el, |p| matches!(p, v4::Packet::ConnAck(_)))
        .await
        .unwrap();
    let body = json!({"readings": [{"sensor": "power", "value": 1.5, "unit": "kW"}]});
    client
        .publish(topic, v4::QoS::AtLeastOnce, false, body.to_string())
        .await
        .unwrap();
    until_v4(&mut el, |p| matches!(p, v4::Packet::PubAck(_)))
        .await
        .unwrap();
    // The PUBACK came after the commit: the reading is there at once.
    assert_eq!(stored(&app, &admin, id).await.len(), 1);

    let (client, mut el) = v5_client(&app, &cert, "mqtt-meter", &token);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    let body =
        json!({"readings": [{"sensor": "power", "value": 2.5}, {"sensor": "volts", "value": 230}]});
    client
        .publish(topic, v5::QoS::AtLeastOnce, false, body.to_string())
        .await
        .unwrap();
    let ack = until_v5(&mut el, |p| matches!(p, v5::Packet::PubAck(_)))
        .await
        .unwrap();
    let v5::Packet::PubAck(ack) = ack else {
        unreachable!()
    };
    assert_eq!(ack.reason, v5::PubAckReason::Success);
    assert_eq!(stored(&app, &admin, id).await.len(), 3);
    // QoS 0: stored the same way, without an acknowledgement.
    client
        .publish(
            topic,
            v5::QoS::AtMostOnce,
            false,
            json!({"readings": [{"sensor": "q0", "value": 0}]}).to_string(),
        )
        .await
        .unwrap();
    for _ in 0..50 {
        if stored(&app, &admin, id).await.len() == 4 {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), el.poll()).await;
    }
    assert_eq!(stored(&app, &admin, id).await.len(), 4);
}

#[tokio::test]
async fn a_connect_without_the_right_credentials_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, cert, token) = device(&app, &admin, "mqtt-a").await;
    let (_, other_cert, other_token) = device(&app, &admin, "mqtt-b").await;

    for (user, password) in [
        ("mqtt-a", "not-a-token"),
        ("mqtt-b", token.as_str()),       // another device's name
        ("mqtt-a", other_token.as_str()), // a token bound to another certificate
        ("mqtt-a", ""),
    ] {
        let (_c, mut el) = v4_client(&app, &cert, user, password);
        match until_v4(&mut el, |p| matches!(p, v4::Packet::ConnAck(_))).await {
            Err(v4::ConnectionError::ConnectionRefused(code)) => {
                assert_eq!(code, v4::ConnectReturnCode::NotAuthorized, "{user}")
            }
            other => panic!("{user}/{password}: {other:?}"),
        }
        let (_c, mut el) = v5_client(&app, &cert, user, password);
        match until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_))).await {
            Err(v5::ConnectionError::ConnectionRefused(code)) => {
                assert_eq!(code, v5::ConnectReturnCode::NotAuthorized, "{user}")
            }
            other => panic!("{user}/{password}: {other:?}"),
        }
    }
    // A user token is no device token.
    let (_c, mut el) = v5_client(&app, &other_cert, "mqtt-b", &admin);
    assert!(matches!(
        until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_))).await,
        Err(v5::ConnectionError::ConnectionRefused(
            v5::ConnectReturnCode::NotAuthorized
        ))
    ));
}

#[tokio::test]
async fn other_topics_and_bad_payloads_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, cert, token) = device(&app, &admin, "mqtt-c").await;
    device(&app, &admin, "mqtt-d").await;

    let (client, mut el) = v5_client(&app, &cert, "mqtt-c", &token);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    client
        .subscribe("vigil/devices/mqtt-d/commands", v5::QoS::AtLeastOnce)
        .await
        .unwrap();
    let v5::Packet::SubAck(ack) = until_v5(&mut el, |p| matches!(p, v5::Packet::SubAck(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(ack.return_codes, [v5::SubscribeReasonCode::NotAuthorized]);
    for (topic, payload, want) in [
        (
            "vigil/devices/mqtt-d/readings",
            json!({"readings": [{"sensor": "s", "value": 1}]}).to_string(),
            v5::PubAckReason::NotAuthorized,
        ),
        (
            "vigil/other",
            "{}".to_owned(),
            v5::PubAckReason::NotAuthorized,
        ),
        (
            "vigil/devices/mqtt-c/readings",
            "not json".to_owned(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            "vigil/devices/mqtt-c/readings",
            json!({"readings": [{"sensor": "bad sensor", "value": 1}]}).to_string(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            "vigil/devices/mqtt-c/readings",
            json!({"readings": []}).to_string(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
    ] {
        client
            .publish(topic, v5::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        let v5::Packet::PubAck(ack) = until_v5(&mut el, |p| matches!(p, v5::Packet::PubAck(_)))
            .await
            .unwrap()
        else {
            unreachable!()
        };
        assert_eq!(ack.reason, want, "{topic}");
    }
    assert!(stored(&app, &admin, id).await.is_empty());

    // 3.1.1 cannot say no in a PUBACK: the connection is closed.
    let (client, mut el) = v4_client(&app, &cert, "mqtt-c", &token);
    until_v4(&mut el, |p| matches!(p, v4::Packet::ConnAck(_)))
        .await
        .unwrap();
    client
        .subscribe("vigil/devices/mqtt-d/commands", v4::QoS::AtLeastOnce)
        .await
        .unwrap();
    let v4::Packet::SubAck(ack) = until_v4(&mut el, |p| matches!(p, v4::Packet::SubAck(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(ack.return_codes, [v4::SubscribeReasonCode::Failure]);
    client
        .publish(
            "vigil/devices/mqtt-d/readings",
            v4::QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    assert!(until_v4(&mut el, |p| matches!(p, v4::Packet::PubAck(_)))
        .await
        .is_err());
    assert!(stored(&app, &admin, id).await.is_empty());
}

#[tokio::test]
async fn revoking_the_token_or_the_device_closes_the_session_within_a_second() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, cert, token) = device(&app, &admin, "mqtt-e").await;
    let (_c5, mut el5) = v5_client(&app, &cert, "mqtt-e", &token);
    until_v5(&mut el5, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    let (_c4, mut el4) = v4_client(&app, &cert, "mqtt-e", &token);
    until_v4(&mut el4, |p| matches!(p, v4::Packet::ConnAck(_)))
        .await
        .unwrap();
    assert_eq!(app.app.state().mqtt_sessions.list(Some(id)).len(), 2);

    let tokens: Vec<TokenInfo> = app
        .get(&format!("/api/v1/tokens?device_id={id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let revoked_at = std::time::Instant::now();
    let res = app
        .post(
            &format!("/api/v1/tokens/{}/revoke", tokens[0].token_id),
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    match until_v5(&mut el5, |_| false).await {
        Err(v5::ConnectionError::MqttState(v5::StateError::ServerDisconnect {
            reason_code,
            ..
        })) => {
            assert_eq!(reason_code, v5::DisconnectReasonCode::AdministrativeAction)
        }
        other => panic!("{other:?}"),
    }
    assert!(until_v4(&mut el4, |_| false).await.is_err(), "3.1.1 closed");
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked_at.elapsed()
    );
    for _ in 0..20 {
        if app.app.state().mqtt_sessions.list(Some(id)).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.app.state().mqtt_sessions.list(Some(id)).is_empty());

    // A new token: the session works again, until the device is revoked.
    let client = app.device_client(&cert.cert_pem, &cert.key_pem);
    let token = device_token(&app, &client).await.token;
    let (_c5, mut el5) = v5_client(&app, &cert, "mqtt-e", &token);
    until_v5(&mut el5, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    let revoked_at = std::time::Instant::now();
    app.post(&format!("/api/v1/devices/{id}/revoke"), &admin, None)
        .await;
    match until_v5(&mut el5, |_| false).await {
        Err(v5::ConnectionError::MqttState(v5::StateError::ServerDisconnect {
            reason_code,
            ..
        })) => {
            assert_eq!(reason_code, v5::DisconnectReasonCode::AdministrativeAction)
        }
        other => panic!("{other:?}"),
    }
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked_at.elapsed()
    );
}

#[tokio::test]
async fn an_expired_token_ends_the_session_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, cert, token) = device(&app, &admin, "mqtt-f").await;
    let (_c, mut el) = v5_client(&app, &cert, "mqtt-f", &token);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    // A day passes on the platform's clock: the device token's lifetime.
    app.app
        .state()
        .clock
        .advance(Duration::from_secs(24 * 3600 + 3));
    match until_v5(&mut el, |_| false).await {
        Err(v5::ConnectionError::MqttState(v5::StateError::ServerDisconnect {
            reason_code,
            ..
        })) => {
            assert_eq!(reason_code, v5::DisconnectReasonCode::MaximumConnectTime)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn commands_reach_a_subscribed_device_and_its_answer_is_stored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, cert, token) = device(&app, &admin, "mqtt-g").await;
    let (client, mut el) = v5_client(&app, &cert, "mqtt-g", &token);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    // Queued before the subscription: sent when it comes.
    let res = app
        .post(
            &format!("/api/v1/devices/{id}/commands"),
            &admin,
            Some(json!({"name": "early"})),
        )
        .await;
    let early: Command = res.json().await.unwrap();
    client
        .subscribe("vigil/devices/mqtt-g/commands", v5::QoS::AtLeastOnce)
        .await
        .unwrap();
    let v5::Packet::SubAck(ack) = until_v5(&mut el, |p| matches!(p, v5::Packet::SubAck(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        ack.return_codes,
        [v5::SubscribeReasonCode::Success(v5::QoS::AtLeastOnce)]
    );
    let v5::Packet::Publish(p) = until_v5(&mut el, |p| matches!(p, v5::Packet::Publish(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(&p.topic[..], b"vigil/devices/mqtt-g/commands");
    let got: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(got["id"], early.id);
    assert_eq!(got["name"], "early");

    // While it is subscribed over MQTT, its HTTP long-poll gets none: one
    // transport per command.
    let http = app.device_client(&cert.cert_pem, &cert.key_pem);
    let url = app.south_url("/device/v1/commands?wait=2");
    let polling = tokio::spawn({
        let token = token.clone();
        async move {
            http.get(url)
                .header("x-access-token", token)
                .send()
                .await
                .unwrap()
                .json::<Vec<serde_json::Value>>()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Queued while subscribed: sent at once.
    let res = app
        .post(
            &format!("/api/v1/devices/{id}/commands"),
            &admin,
            Some(json!({"name": "now", "payload": {"x": 1}})),
        )
        .await;
    let now: Command = res.json().await.unwrap();
    let v5::Packet::Publish(p) = until_v5(&mut el, |p| matches!(p, v5::Packet::Publish(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    let got: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(
        (got["id"].as_i64(), &got["payload"]),
        (Some(now.id), &json!({"x": 1}))
    );
    assert!(
        polling.await.unwrap().is_empty(),
        "the long-poll took nothing"
    );
    // The client acknowledged it: delivered.
    let mut delivered = false;
    for _ in 0..40 {
        let c: Command = app
            .get(&format!("/api/v1/commands/{}", now.id), &admin)
            .await
            .json()
            .await
            .unwrap();
        if c.status == CommandStatus::Delivered {
            delivered = true;
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), el.poll()).await;
    }
    assert!(delivered);

    client
        .publish(
            format!("vigil/devices/mqtt-g/commands/{}/result", now.id),
            v5::QoS::AtLeastOnce,
            false,
            json!({"status": "succeeded", "result": {"done": true}}).to_string(),
        )
        .await
        .unwrap();
    let v5::Packet::PubAck(ack) = until_v5(&mut el, |p| matches!(p, v5::Packet::PubAck(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(ack.reason, v5::PubAckReason::Success);
    let c: Command = app
        .get(&format!("/api/v1/commands/{}", now.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (c.status, c.result),
        (CommandStatus::Succeeded, Some(json!({"done": true})))
    );
}

/// A 3.1.1 CONNECT with a username and password, by hand.
#[tokio::test]
async fn silent_or_oversized_clients_are_cut_off() {
    let app = spawn_with(|s| s.header_timeout = Duration::from_secs(1)).await;
    let admin = app.admin_token().await;
    let (_, cert, token) = device(&app, &admin, "mqtt-h").await;

    // No CONNECT within the deadline.
    let mut tls = raw_tls(&app, &cert).await;
    let took = closed_within(&mut tls, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(took < Duration::from_secs(3), "{took:?}");

    // A keep-alive of 1 s, then silence: gone after 1.5 s.
    let mut tls = raw_tls(&app, &cert).await;
    tls.write_all(&raw_connect("mqtt-h", &token, 1))
        .await
        .unwrap();
    let mut connack = [0u8; 4];
    tls.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0], "accepted");
    let took = closed_within(&mut tls, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A packet announced above 256 KiB is refused unread.
    let mut tls = raw_tls(&app, &cert).await;
    tls.write_all(&raw_connect("mqtt-h", &token, 30))
        .await
        .unwrap();
    tls.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0]);
    // PUBLISH QoS 0, remaining length 300 KiB.
    let len = 300 * 1024u32;
    let header = [
        0x30,
        (len % 128) as u8 | 0x80,
        ((len / 128) % 128) as u8 | 0x80,
        (len / 16384) as u8,
    ];
    tls.write_all(&header).await.unwrap();
    tls.write_all(&[0u8; 1024]).await.unwrap();
    assert!(closed_within(&mut tls, Duration::from_secs(3))
        .await
        .is_some());
}

#[tokio::test]
async fn the_device_listener_takes_no_wildcards_and_no_connection_without_a_certificate() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, cert, token) = device(&app, &admin, "mqtt-w").await;
    let (c, mut el) = v5_client(&app, &cert, "mqtt-w", &token);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    for filter in [
        "#",
        "vigil/devices/+/commands",
        "vigil/devices/mqtt-w/#",
        "vigil/devices/mqtt-w/readings",
    ] {
        c.subscribe(filter, v5::QoS::AtLeastOnce).await.unwrap();
        let v5::Packet::SubAck(a) = until_v5(&mut el, |p| matches!(p, v5::Packet::SubAck(_)))
            .await
            .unwrap()
        else {
            unreachable!()
        };
        assert_eq!(
            a.return_codes,
            [v5::SubscribeReasonCode::NotAuthorized],
            "{filter}"
        );
    }
    // Without a client certificate the handshake itself fails.
    let tcp = tokio::net::TcpStream::connect(app.app.mqtt_addr())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(match north_tls(&app) {
        Transport::Tls(TlsConfiguration::Rustls(config)) => config,
        _ => unreachable!(),
    });
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let refused = match connector.connect(name, tcp).await {
        Err(_) => true,
        // TLS 1.3: the refusal arrives with the first read.
        Ok(mut tls) => {
            let _ = tls.write_all(&raw_connect("mqtt-w", &token, 30)).await;
            let mut buf = [0u8; 4];
            !matches!(tls.read_exact(&mut buf).await, Ok(_) if buf == [0x20, 2, 0, 0])
        }
    };
    assert!(refused);
}

/// Holds the database's write lock (SQLite) or the readings table
/// (PostgreSQL) until the transaction is dropped: no reading can commit.
async fn block_readings(app: &TestApp) -> sqlx::Transaction<'static, sqlx::Any> {
    let mut tx = app.app.state().db.begin().await.unwrap();
    let sql = if app.settings.database_url.is_some() {
        "LOCK TABLE readings IN EXCLUSIVE MODE"
    } else {
        "INSERT INTO audit_log (ts, event, subject) VALUES (0, 'test_lock', 'lock')"
    };
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    tx
}

/// Reads what arrives within `within` (nothing is an empty answer).
async fn arrived(
    tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    within: Duration,
) -> Vec<u8> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tls.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend(&buf[..n]);
    }
    got
}

#[tokio::test]
async fn sixteen_readings_in_flight_stop_the_reading_of_the_connection_until_one_is_stored() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, cert, token) = device(&app, &admin, "mqtt-bp").await;
    let topic = "vigil/devices/mqtt-bp/readings";
    let body = json!({"readings": [{"sensor": "s", "value": 1}]}).to_string();
    let mut tls = raw_tls(&app, &cert).await;
    tls.write_all(&raw_connect("mqtt-bp", &token, 60))
        .await
        .unwrap();
    let mut connack = [0u8; 4];
    tls.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0]);

    let lock = block_readings(&app).await;
    // 15 in flight: the connection is still read, so a PINGREQ is answered.
    for packet_id in 1..=15 {
        tls.write_all(&raw_publish(topic, Some(packet_id), body.as_bytes()))
            .await
            .unwrap();
    }
    tls.write_all(&[0xC0, 0]).await.unwrap();
    assert_eq!(
        arrived(&mut tls, Duration::from_millis(700)).await,
        [0xD0, 0],
        "a PINGRESP, and no PUBACK while nothing can commit"
    );
    // The 16th: the connection is no longer read, the next PINGREQ waits.
    tls.write_all(&raw_publish(topic, Some(16), body.as_bytes()))
        .await
        .unwrap();
    tls.write_all(&[0xC0, 0]).await.unwrap();
    assert_eq!(
        arrived(&mut tls, Duration::from_millis(700)).await,
        [] as [u8; 0],
        "nothing is read past 16 in flight"
    );
    assert!(stored(&app, &admin, id).await.is_empty());

    // Once the readings can commit: 16 PUBACKs in order, and the PINGRESP
    // once the first is out (the connection is read again).
    drop(lock);
    let mut got = vec![0u8; 16 * 4 + 2];
    tokio::time::timeout(Duration::from_secs(10), tls.read_exact(&mut got))
        .await
        .expect("the answers within 10 s")
        .unwrap();
    // Every packet before it is a 4-byte PUBACK.
    let pong = (0..got.len())
        .step_by(4)
        .find(|&at| got[at..].starts_with(&[0xD0, 0]))
        .expect("a PINGRESP");
    assert!(pong >= 4, "not before the first PUBACK: {got:?}");
    got.drain(pong..pong + 2);
    let want: Vec<u8> = (1..=16u16)
        .flat_map(|id| {
            let [hi, lo] = id.to_be_bytes();
            [0x40, 2, hi, lo]
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(stored(&app, &admin, id).await.len(), 16);
}
