//! The client applications' listener (and revocations on both).

use std::time::Duration;

use app::types::{Command, CommandStatus};
use serde_json::json;

use super::*;
use crate::{device_helpers::*, helpers::*};

#[tokio::test]
async fn an_app_follows_readings_and_command_statuses() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app
        .user_with_role(&admin, "watcher", app::types::Role::Viewer)
        .await;
    let (pump, _, client) = app.enrolled_device(&admin, "app-pump").await;
    let id = pump.id;
    let (_, _, other) = app.enrolled_device(&admin, "app-other").await;
    let token = device_token(&app, &client).await.token;
    let other_token = device_token(&app, &other).await.token;

    let (sub, mut el) = app_v5(&app, "Watcher", &viewer);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    sub.subscribe("vigil/devices/app-pump/readings", v5::QoS::AtLeastOnce)
        .await
        .unwrap();
    sub.subscribe("vigil/devices/+/commands/status", v5::QoS::AtLeastOnce)
        .await
        .unwrap();
    sub.subscribe("#", v5::QoS::AtLeastOnce).await.unwrap();
    let mut acks = Vec::new();
    for _ in 0..3 {
        let v5::Packet::SubAck(a) = until_v5(&mut el, |p| matches!(p, v5::Packet::SubAck(_)))
            .await
            .unwrap()
        else {
            unreachable!()
        };
        acks.extend(a.return_codes);
    }
    assert_eq!(
        acks,
        [
            v5::SubscribeReasonCode::Success(v5::QoS::AtMostOnce),
            v5::SubscribeReasonCode::Success(v5::QoS::AtMostOnce),
            v5::SubscribeReasonCode::NotAuthorized,
        ]
    );

    // Another device's reading is not followed; this one's is.
    send_readings(
        &app,
        &other,
        &other_token,
        json!({"readings": [{"sensor": "x", "value": 9}]}),
    )
    .await
    .unwrap();
    send_readings(
        &app,
        &client,
        &token,
        json!({"readings": [{"sensor": "flow", "value": 3.5, "unit": "l/s"}]}),
    )
    .await
    .unwrap();
    let v5::Packet::Publish(p) = until_v5(&mut el, |p| matches!(p, v5::Packet::Publish(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(&p.topic[..], b"vigil/devices/app-pump/readings");
    let r: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(
        (
            r["device_id"].as_i64(),
            r["registration_id"].as_str(),
            r["sensor"].as_str(),
            r["value"].as_f64(),
            r["unit"].as_str()
        ),
        (
            Some(id),
            Some("app-pump"),
            Some("flow"),
            Some(3.5),
            Some("l/s")
        )
    );
    assert!(r["ts"].is_string());

    let res = app
        .post(
            &format!("/api/v1/devices/{id}/commands"),
            &admin,
            Some(json!({"name": "prime"})),
        )
        .await;
    let sent: Command = res.json().await.unwrap();
    let v5::Packet::Publish(p) = until_v5(&mut el, |p| matches!(p, v5::Packet::Publish(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(&p.topic[..], b"vigil/devices/app-pump/commands/status");
    let c: Command = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!((c.id, c.status), (sent.id, CommandStatus::Queued));
}

#[tokio::test]
async fn operators_send_commands_over_mqtt_and_viewers_cannot() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app
        .user_with_role(&admin, "vera", app::types::Role::Viewer)
        .await;
    let (_, operator) = app
        .user_with_role(&admin, "otto", app::types::Role::Operator)
        .await;
    let id = app.enrolled_device(&admin, "app-valve").await.0.id;
    let topic = "vigil/devices/app-valve/commands/send";

    let (c, mut el) = app_v5(&app, "vera", &viewer);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    c.publish(
        topic,
        v5::QoS::AtLeastOnce,
        false,
        json!({"name": "open"}).to_string(),
    )
    .await
    .unwrap();
    let v5::Packet::PubAck(a) = until_v5(&mut el, |p| matches!(p, v5::Packet::PubAck(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(a.reason, v5::PubAckReason::NotAuthorized);

    let (c, mut el) = app_v5(&app, "otto", &operator);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    for (payload, want) in [
        (
            "{not json".to_owned(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            json!({"name": "bad name"}).to_string(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            json!({"name": "open", "payload": {"percent": 40}, "ttl_s": 30}).to_string(),
            v5::PubAckReason::Success,
        ),
    ] {
        c.publish(topic, v5::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        let v5::Packet::PubAck(a) = until_v5(&mut el, |p| matches!(p, v5::Packet::PubAck(_)))
            .await
            .unwrap()
        else {
            unreachable!()
        };
        assert_eq!(a.reason, want);
    }
    let listed: Vec<Command> = app
        .get(&format!("/api/v1/devices/{id}/commands"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), &listed[0].payload),
        ("open", &json!({"percent": 40}))
    );

    // 3.1.1: a viewer's attempt closes the connection, and nothing is sent.
    let (c, mut el) = app_v4(&app, "vera", &viewer);
    until_v4(&mut el, |p| matches!(p, v4::Packet::ConnAck(_)))
        .await
        .unwrap();
    c.publish(
        topic,
        v4::QoS::AtLeastOnce,
        false,
        json!({"name": "open"}).to_string(),
    )
    .await
    .unwrap();
    assert!(until_v4(&mut el, |p| matches!(p, v4::Packet::PubAck(_)))
        .await
        .is_err());
    let listed: Vec<Command> = app
        .get(&format!("/api/v1/devices/{id}/commands"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn an_app_session_needs_its_users_token_and_ends_at_logout_within_a_second() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app
        .user_with_role(&admin, "lena", app::types::Role::Viewer)
        .await;
    let (_, _, client) = app.enrolled_device(&admin, "app-dev").await;
    let device = device_token(&app, &client).await.token;
    for (user, token) in [
        ("admin", viewer.as_str()),
        ("lena", "nope"),
        ("lena", device.as_str()),
    ] {
        let (_c, mut el) = app_v5(&app, user, token);
        assert!(
            matches!(
                until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_))).await,
                Err(v5::ConnectionError::ConnectionRefused(
                    v5::ConnectReturnCode::NotAuthorized
                ))
            ),
            "{user}"
        );
    }
    let (_c, mut el) = app_v5(&app, "lena", &viewer);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    let (_c4, mut el4) = app_v4(&app, "lena", &viewer);
    until_v4(&mut el4, |p| matches!(p, v4::Packet::ConnAck(_)))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        app.post("/api/v1/auth/logout", &viewer, None)
            .await
            .status(),
        204
    );
    match until_v5(&mut el, |_| false).await {
        Err(v5::ConnectionError::MqttState(v5::StateError::ServerDisconnect {
            reason_code,
            ..
        })) => {
            assert_eq!(reason_code, v5::DisconnectReasonCode::AdministrativeAction)
        }
        other => panic!("{other:?}"),
    }
    assert!(until_v4(&mut el4, |_| false).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_kind_of_revocation_closes_app_and_device_sessions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // Role changed, user deleted: the user's sessions end.
    for change in ["role", "delete"] {
        let name = format!("u-{change}");
        let (uid, token) = app
            .user_with_role(&admin, &name, app::types::Role::Operator)
            .await;
        let (_c, mut el) = app_v5(&app, &name, &token);
        until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let res = if change == "role" {
            app.client
                .patch(app.url(&format!("/api/v1/users/{uid}")))
                .header("x-access-token", &admin)
                .json(&json!({"role": "viewer"}))
                .send()
                .await
                .unwrap()
        } else {
            app.delete(&format!("/api/v1/users/{uid}"), &admin).await
        };
        assert!(res.status().is_success(), "{change}: {}", res.status());
        match until_v5(&mut el, |_| false).await {
            Err(v5::ConnectionError::MqttState(v5::StateError::ServerDisconnect {
                reason_code,
                ..
            })) => {
                assert_eq!(
                    reason_code,
                    v5::DisconnectReasonCode::AdministrativeAction,
                    "{change}"
                )
            }
            other => panic!("{change}: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{change}: {:?}",
            started.elapsed()
        );
    }
    // A device's tokens revoked (its certificate still good).
    let (id, cert, token) = device(&app, &admin, "mqtt-rt").await;
    let (_c, mut el) = v5_client(&app, &cert, "mqtt-rt", &token);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let res = app
        .post(&format!("/api/v1/devices/{id}/revoke-tokens"), &admin, None)
        .await;
    assert_eq!(res.status(), 204);
    assert!(matches!(
        until_v5(&mut el, |_| false).await,
        Err(v5::ConnectionError::MqttState(
            v5::StateError::ServerDisconnect {
                reason_code: v5::DisconnectReasonCode::AdministrativeAction,
                ..
            }
        ))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_app_that_stops_reading_is_cut_off_and_the_others_go_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, viewer) = app
        .user_with_role(&admin, "sleepy", app::types::Role::Viewer)
        .await;
    let (_, _, client) = app.enrolled_device(&admin, "app-flood").await;
    let token = device_token(&app, &client).await.token;

    // An app that keeps up, polled all along.
    let (awake, mut el) = app_v5(&app, "sleepy", &viewer);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    awake
        .subscribe("vigil/devices/+/readings", v5::QoS::AtMostOnce)
        .await
        .unwrap();
    until_v5(&mut el, |p| matches!(p, v5::Packet::SubAck(_)))
        .await
        .unwrap();
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let polling = tokio::spawn({
        let received = received.clone();
        async move {
            loop {
                match el.poll().await {
                    Ok(v5::Event::Incoming(v5::Packet::Publish(_))) => {
                        received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => return e,
                }
            }
        }
    });

    // An app that subscribes and then never reads, with a small receive
    // buffer so that the server's sends back up sooner.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(app.app.mqtt_north_addr()).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(match north_tls(&app) {
        Transport::Tls(TlsConfiguration::Rustls(config)) => config,
        _ => unreachable!(),
    });
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut asleep = connector.connect(name, tcp).await.unwrap();
    // Keep-alive 0: only the send deadline can end it.
    asleep
        .write_all(&raw_connect("sleepy", &viewer, 0))
        .await
        .unwrap();
    let mut connack = [0u8; 4];
    asleep.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0]);
    asleep
        .write_all(&raw_subscribe(1, "vigil/devices/+/readings"))
        .await
        .unwrap();
    let mut suback = [0u8; 5];
    asleep.read_exact(&mut suback).await.unwrap();
    assert_eq!(suback, [0x90, 3, 0, 1, 0]);
    let sessions = &app.app.state().mqtt_sessions;
    assert_eq!(sessions.len(), 2);

    // Readings until the sleeper's sends have waited 5 s and it is gone.
    let started = std::time::Instant::now();
    let batch = json!({"readings": (0..1000)
        .map(|i| json!({"sensor": "flood", "value": i, "unit": "u"}))
        .collect::<Vec<_>>()});
    let mut sent = 0;
    while sessions.len() == 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sleeper is still connected after {sent} readings"
        );
        let res = send_readings(&app, &client, &token, &batch).await.unwrap();
        assert_eq!(res.status(), 202);
        sent += 1000;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server closed it: what was buffered drains, then the end.
    let mut sink = vec![0u8; 64 * 1024];
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match asleep.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the sleeper's connection was closed");

    // The other app is still there, and still served.
    assert_eq!(sessions.len(), 1);
    let count = || received.load(std::sync::atomic::Ordering::Relaxed);
    let mut settled = usize::MAX;
    while settled != count() {
        settled = count();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(settled > 0);
    let res = send_readings(&app, &client, &token, &batch).await.unwrap();
    assert_eq!(res.status(), 202);
    for _ in 0..100 {
        if count() == settled + 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(), settled + 1000);
    assert!(!polling.is_finished());
    polling.abort();
    drop(awake);
}
