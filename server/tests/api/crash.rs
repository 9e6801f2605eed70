//! What was acknowledged survives SIGKILL of the real binary: readings
//! right after their 202, and commands — nothing queued lost, nothing
//! final changed — across a restart.

use std::time::Duration;

use app::types::{Command, CommandStatus, DeviceCommand};
use serde_json::{json, Value};
use sqlx::Row;

use crate::{helpers::*, process::Running};

#[tokio::test]
async fn acknowledged_readings_survive_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let (_, device) = vigil.device(&admin, "crash-test").await;
    let token = vigil.device_token(&device).await;
    let readings: Vec<Value> = (0..250)
        .map(|i| json!({"sensor": "s", "value": i}))
        .collect();
    let res = device
        .post(vigil.south("/device/v1/readings"))
        .header("x-access-token", token.as_str())
        .json(&json!({ "readings": readings }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    vigil.kill().await;

    let url = db_url.unwrap_or_else(|| format!("sqlite://{}/vigil.db", data.path().display()));
    let db = vigil::db::connect(&url, "vigil-test").await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM readings")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 250);
}

#[tokio::test]
async fn commands_survive_sigkill_queued_or_final() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let (id, device) = vigil.device(&admin, "crash-commands").await;
    let token = vigil.device_token(&device).await;
    let send = async |name: &str| -> Command {
        let res = vigil
            .client
            .post(vigil.north(&format!("/api/v1/devices/{id}/commands")))
            .header("x-access-token", &admin)
            .json(&json!({"name": name, "payload": {"name": name}, "ttl_s": 3600}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    };
    let answered = send("answered").await;
    let taken: Vec<DeviceCommand> = device
        .get(vigil.south("/device/v1/commands"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let res = device
        .post(vigil.south(&format!("/device/v1/commands/{}/result", answered.id)))
        .header("x-access-token", &token)
        .json(&json!({"status": "succeeded", "result": {"ok": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cancelled = send("cancelled").await;
    let res = vigil
        .client
        .post(vigil.north(&format!("/api/v1/commands/{}/cancel", cancelled.id)))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let mut queued = Vec::new();
    for i in 0..5 {
        queued.push(send(&format!("queued-{i}")).await.id);
    }
    vigil.kill().await;

    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let listed: Vec<Command> = vigil
        .client
        .get(vigil.north(&format!("/api/v1/devices/{id}/commands")))
        .header("x-access-token", &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = |cid: i64| listed.iter().find(|c| c.id == cid).unwrap().clone();
    let a = status(answered.id);
    assert_eq!(
        (a.status, a.result),
        (CommandStatus::Succeeded, Some(json!({"ok": 1})))
    );
    assert_eq!(status(cancelled.id).status, CommandStatus::Cancelled);
    for q in &queued {
        assert_eq!(status(*q).status, CommandStatus::Queued);
    }
    // The device, on a new connection, receives all of them in order.
    let cert_client = device;
    let token = vigil.device_token(&cert_client).await;
    let taken: Vec<DeviceCommand> = cert_client
        .get(vigil.south("/device/v1/commands"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|c| c.id).collect::<Vec<_>>(), queued);
    vigil.kill().await;
}

#[tokio::test]
async fn readings_acknowledged_over_mqtt_survive_sigkill() {
    use rumqttc::v5::{mqttbytes::v5::Packet, mqttbytes::QoS, Event};
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    let admin = vigil.admin_token(&password).await;
    let (_, device, cert) = vigil.device_with_cert(&admin, "crash-mqtt").await;
    let token = vigil.device_token(&device).await;

    let (client, mut el) = vigil.mqtt_device(&cert, "crash-mqtt", &token);
    let readings: Vec<Value> = (0..250)
        .map(|i| json!({"sensor": "m", "value": i}))
        .collect();
    client
        .publish(
            "vigil/devices/crash-mqtt/readings",
            QoS::AtLeastOnce,
            false,
            json!({ "readings": readings }).to_string(),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = el.poll().await.unwrap() {
                return;
            }
        }
    })
    .await
    .expect("a PUBACK");
    vigil.kill().await;

    let url = db_url.unwrap_or_else(|| format!("sqlite://{}/vigil.db", data.path().display()));
    let db = vigil::db::connect(&url, "vigil-test").await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM readings")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 250);
}
