//! The cluster suite: real `vigil` processes on loopback sharing one fresh
//! PostgreSQL database, the same PKI files and signing keys. Each test
//! makes a change through one instance and tries to get past it through
//! another. The contract's bound is 1 s; the tests allow `BOUND` (the
//! margin is for a loaded CI machine; `bench/cluster.sh` measures the real
//! distribution). On SQLite (one instance only) there is nothing to run.

use std::time::{Duration, Instant};

use rumqttc::v5::{
    mqttbytes::{
        v5::{DisconnectReasonCode, Packet},
        QoS,
    },
    ConnectionError, Event, EventLoop, StateError,
};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{
    helpers::*,
    process::{sample, Running},
};

/// The contract's 1 s, with a margin.
const BOUND: Duration = Duration::from_millis(1500);

struct Cluster {
    nodes: Vec<Running>,
    db_url: String,
    password: String,
    _data: Vec<TempDir>,
}

/// `n` instances on one new database, or `None` on SQLite.
async fn cluster(n: usize) -> Option<Cluster> {
    let db_url = fresh_database().await?;
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let first = tempfile::tempdir().unwrap();
    let a = Running::start(first.path(), Some(&db_url), &password).await;
    let mut nodes = vec![];
    let mut data = vec![];
    for _ in 1..n {
        let own = tempfile::tempdir().unwrap();
        nodes.push(a.join(first.path(), own.path(), &db_url, &password).await);
        data.push(own);
    }
    nodes.insert(0, a);
    data.insert(0, first);
    Some(Cluster {
        nodes,
        db_url,
        password,
        _data: data,
    })
}

async fn post(node: &Running, path: &str, token: &str, body: Value) -> reqwest::Response {
    node.client
        .post(node.north(path))
        .header("x-access-token", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn user(node: &Running, admin: &str, name: &str, role: &str) -> i64 {
    let res = post(
        node,
        "/api/v1/users",
        admin,
        json!({"username": name, "password": STRONG, "role": role}),
    )
    .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn token_status(node: &Running, device: &reqwest::Client) -> Option<u16> {
    device
        .post(node.south("/device/v1/token"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn connack(el: &mut EventLoop) {
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = el.poll().await.unwrap() {
            return;
        }
    }
}

/// The next incoming packet for which `pick` says yes, within 5 s.
async fn next_incoming(el: &mut EventLoop, pick: impl Fn(&Packet) -> bool) -> Packet {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Event::Incoming(p) = el.poll().await.unwrap() {
                if pick(&p) {
                    return p;
                }
            }
        }
    })
    .await
    .expect("the packet within 5 s")
}

#[tokio::test]
async fn changes_through_any_instance_hold_on_the_two_others_within_a_second() {
    let Some(c) = cluster(3).await else { return };
    let [a, b, cc] = &c.nodes[..] else {
        unreachable!()
    };
    let admin = a.admin_token(&c.password).await;

    // A logout on A: refused on B and C.
    let session = a.admin_token(&c.password).await;
    for n in [b, cc] {
        assert_eq!(n.me(&session).await, 200);
    }
    let logout = post(a, "/api/v1/auth/logout", &session, json!({})).await;
    assert_eq!(logout.status(), 204);
    let changed = Instant::now();
    for n in [b, cc] {
        let took = held_since(changed, || async { n.me(&session).await == 401 }).await;
        assert!(took < BOUND, "refused after {took:?}");
        // Counted there as a revocation applied from the feed.
        let m = n.metrics().await;
        assert!(
            m.contains(r#"vigil_feed_applied_total{kind="token"} "#),
            "{m}"
        );
    }

    // A role changed on C: the user's token refused on A; a user deleted
    // on A: refused on B.
    let ops = user(a, &admin, "cluster-op", "operator").await;
    let gone = user(a, &admin, "cluster-gone", "viewer").await;
    let op_token = b.login("cluster-op", STRONG).await;
    let gone_token = cc.login("cluster-gone", STRONG).await;
    assert_eq!(a.me(&op_token).await, 200);
    assert_eq!(b.me(&gone_token).await, 200);
    let res = cc
        .client
        .patch(cc.north(&format!("/api/v1/users/{ops}")))
        .header("x-access-token", &admin)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let re_roled = Instant::now();
    let res = a
        .client
        .delete(a.north(&format!("/api/v1/users/{gone}")))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let deleted = Instant::now();
    let took = held_since(re_roled, || async { a.me(&op_token).await == 401 }).await;
    assert!(
        took < BOUND,
        "re-roled user's token refused on A after {took:?}"
    );
    let took = held_since(deleted, || async { b.me(&gone_token).await == 401 }).await;
    assert!(
        took < BOUND,
        "deleted user's token refused on B after {took:?}"
    );

    // A device enrolled on B: served by C and A; revoked on C: refused at
    // A's and B's handshakes.
    let (id, _, cert) = b.device_with_cert(&admin, "cluster-enrolled").await;
    let enrolled = Instant::now();
    for n in [cc, a] {
        let device = n.device_client(&cert);
        let took = held_since(enrolled, || async {
            token_status(n, &device).await == Some(200)
        })
        .await;
        assert!(took < BOUND, "served after {took:?}");
    }
    let res = post(
        cc,
        &format!("/api/v1/devices/{id}/revoke"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let revoked = Instant::now();
    for n in [a, b] {
        let took = held_since(revoked, || async {
            // A new client: a new handshake each time.
            token_status(n, &n.device_client(&cert)).await.is_none()
        })
        .await;
        assert!(took < BOUND, "refused at the handshake after {took:?}");
    }
}

#[tokio::test]
async fn revoking_a_device_on_a_cuts_what_it_holds_open_on_b() {
    let Some(c) = cluster(2).await else { return };
    let [a, b] = &c.nodes[..] else { unreachable!() };
    let admin = a.admin_token(&c.password).await;
    let (id, _, cert) = a.device_with_cert(&admin, "cluster-held").await;
    let device = b.device_client(&cert);
    held_since(Instant::now(), || async {
        token_status(b, &device).await == Some(200)
    })
    .await;
    let token = b.device_token(&device).await;

    // On B: an HTTP keep-alive connection with a long-poll waiting, and an
    // MQTT session.
    let long_poll = tokio::spawn({
        let req = device
            .get(b.south("/device/v1/commands?wait=30"))
            .header("x-access-token", &token);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap(), Instant::now())
        }
    });
    let (_mqtt, mut el) = b.mqtt_device(&cert, "cluster-held", &token);
    connack(&mut el).await;
    let session = tokio::spawn(async move {
        loop {
            if let Err(e) = el.poll().await {
                return (e, Instant::now());
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let revoked = Instant::now();
    let res = post(
        a,
        &format!("/api/v1/devices/{id}/revoke"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 204);

    let (status, body, answered) = long_poll.await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("token_revoked"))
    );
    assert!(
        answered - revoked < BOUND,
        "long-poll ended after {:?}",
        answered - revoked
    );
    let (ended, at) = session.await.unwrap();
    match ended {
        ConnectionError::MqttState(StateError::ServerDisconnect { reason_code, .. }) => {
            assert_eq!(reason_code, DisconnectReasonCode::AdministrativeAction)
        }
        other => panic!("{other:?}"),
    }
    assert!(
        at - revoked < BOUND,
        "MQTT session ended after {:?}",
        at - revoked
    );
    // The keep-alive client gets no further: its connection was closed
    // and a new handshake is refused.
    assert!(device
        .post(b.south("/device/v1/token"))
        .send()
        .await
        .is_err());

    // A viewer's live stream on B ends when A revokes the viewer's token.
    user(a, &admin, "cluster-viewer", "viewer").await;
    let viewer = b.session("cluster-viewer", STRONG).await;
    let (viewer, jti) = (viewer.token, viewer.token_id);
    let mut live = b
        .client
        .get(b.north("/api/v1/live"))
        .header("x-access-token", &viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let revoked = Instant::now();
    let res = post(
        a,
        &format!("/api/v1/tokens/{jti}/revoke"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let mut seen = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(chunk)) = live.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream still open: {seen}");
    assert!(seen.contains(r#"{"reason":"token_revoked"}"#), "{seen}");
    assert!(
        revoked.elapsed() < BOUND,
        "stream ended after {:?}",
        revoked.elapsed()
    );
}

#[tokio::test]
async fn b_cut_off_from_the_database_during_a_revocation_on_a_refuses_the_token_once_back() {
    let Some(c) = cluster(2).await else { return };
    let [a, b] = &c.nodes[..] else { unreachable!() };
    let session = a.admin_token(&c.password).await;
    let other = b.admin_token(&c.password).await;
    assert_eq!(b.me(&session).await, 200);

    // Every PostgreSQL connection of B (its pool and its listener) is
    // terminated, and the token is revoked through A at once.
    let db = vigil::db::connect(&c.db_url, "vigil-test").await.unwrap();
    let cut: Vec<sqlx::any::AnyRow> = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(b.instance())
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(!cut.is_empty(), "B's connections found");
    let logout = post(a, "/api/v1/auth/logout", &session, json!({})).await;
    assert_eq!(logout.status(), 204);
    let took = held_since(Instant::now(), || async { b.me(&session).await == 401 }).await;
    assert!(took < BOUND * 2, "refused on B after {took:?}");
    // B is otherwise whole.
    assert_eq!(b.me(&other).await, 200);
    let res = b.client.get(b.north("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn readings_and_commands_cross_instances() {
    let Some(c) = cluster(3).await else { return };
    let [a, b, cc] = &c.nodes[..] else {
        unreachable!()
    };
    let admin = a.admin_token(&c.password).await;
    let (id, _, cert) = a.device_with_cert(&admin, "cluster-pump").await;

    // Watching: a live stream on B, an app's MQTT subscription on C.
    let mut live = b
        .client
        .get(b.north(&format!("/api/v1/live?device_id={id}")))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let (app, mut app_el) = cc.mqtt_app("admin", &admin);
    connack(&mut app_el).await;
    app.subscribe("vigil/devices/+/readings", QoS::AtMostOnce)
        .await
        .unwrap();
    next_incoming(&mut app_el, |p| matches!(p, Packet::SubAck(_))).await;

    // Readings stored through A.
    let device = a.device_client(&cert);
    let token = a.device_token(&device).await;
    let sent = Instant::now();
    let res = device
        .post(a.south("/device/v1/readings"))
        .header("x-access-token", &token)
        .json(&json!({"readings": [{"sensor": "rpm", "value": 1234.5}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let Packet::Publish(p) = next_incoming(&mut app_el, |p| matches!(p, Packet::Publish(_))).await
    else {
        unreachable!()
    };
    assert!(
        sent.elapsed() < BOUND,
        "on C's MQTT after {:?}",
        sent.elapsed()
    );
    let got: Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(
        (&got["registration_id"], &got["sensor"], &got["value"]),
        (&json!("cluster-pump"), &json!("rpm"), &json!(1234.5))
    );
    let mut seen = String::new();
    tokio::time::timeout_at((sent + BOUND).into(), async {
        while !seen.contains("1234.5") {
            let chunk = live.chunk().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not on B's live stream: {seen}"));
    // B measured the feed's lag for what it read back.
    let m = b.metrics().await;
    let count = sample(&m, "vigil_feed_readings_lag_seconds_count");
    assert!(count.is_some_and(|c| c >= 1.0), "{m}");

    // A command sent through C reaches the device subscribed on B; the
    // device's answer, given to B, is C's to see.
    let on_b = b.device_client(&cert);
    let b_token = b.device_token(&on_b).await;
    let (dev, mut dev_el) = b.mqtt_device(&cert, "cluster-pump", &b_token);
    connack(&mut dev_el).await;
    dev.subscribe("vigil/devices/cluster-pump/commands", QoS::AtLeastOnce)
        .await
        .unwrap();
    next_incoming(&mut dev_el, |p| matches!(p, Packet::SubAck(_))).await;
    let res = post(
        cc,
        &format!("/api/v1/devices/{id}/commands"),
        &admin,
        json!({"name": "start", "payload": {"rpm": 900}}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let command = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let sent = Instant::now();
    let Packet::Publish(p) = next_incoming(&mut dev_el, |p| matches!(p, Packet::Publish(_))).await
    else {
        unreachable!()
    };
    assert!(
        sent.elapsed() < BOUND,
        "at the device after {:?}",
        sent.elapsed()
    );
    let got: Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(
        (got["id"].as_i64(), &got["payload"]),
        (Some(command), &json!({"rpm": 900}))
    );
    dev.publish(
        format!("vigil/devices/cluster-pump/commands/{command}/result"),
        QoS::AtLeastOnce,
        false,
        json!({"status": "succeeded", "result": {"rpm": 900}}).to_string(),
    )
    .await
    .unwrap();
    next_incoming(&mut dev_el, |p| matches!(p, Packet::PubAck(_))).await;
    let answered = Instant::now();
    let status = || async {
        let c: Value = cc
            .client
            .get(cc.north(&format!("/api/v1/commands/{command}")))
            .header("x-access-token", &admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        c["status"] == "succeeded" && c["result"] == json!({"rpm": 900})
    };
    held_since(answered, status).await;
    assert!(
        answered.elapsed() < BOUND,
        "seen on C after {:?}",
        answered.elapsed()
    );
}
