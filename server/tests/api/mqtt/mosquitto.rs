//! One device journey and one app journey with Debian's `mosquitto_pub`
//! and `mosquitto_sub` (package `mosquitto-clients`, installed by
//! `scripts/setup.sh --test`), in MQTT 3.1.1 and 5.0: clients written by
//! others, with their own TLS stack (OpenSSL) and their own idea of the
//! protocol.

use std::{path::PathBuf, process::Stdio, time::Duration};

use app::types::{Command, CommandStatus, Role};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout},
};

use super::*;
use crate::{device_helpers::*, helpers::*};

const VERSIONS: [&str; 2] = ["mqttv311", "mqttv5"];

/// The CA file, and for a device its certificate and key, in a directory
/// of the test's own (the key 0600, as a device would keep it).
struct Files {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    device: Option<(PathBuf, PathBuf)>,
}

fn files(app: &TestApp, cert: Option<&DeviceCert>) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::copy(app.data_path().join("pki/platform-ca.pem"), &ca).unwrap();
    let device = cert.map(|cert| {
        let (c, k) = (dir.path().join("device.pem"), dir.path().join("device.key"));
        std::fs::write(&c, &cert.cert_pem).unwrap();
        std::fs::write(&k, &cert.key_pem).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
        (c, k)
    });
    Files {
        _dir: dir,
        ca,
        device,
    }
}

/// The arguments both tools share: where, which version, TLS, credentials.
fn common(files: &Files, port: u16, version: &str, user: &str, password: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-V",
        version,
        "--cafile",
        files.ca.to_str().unwrap(),
        "-u",
        user,
        "-P",
        password,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some((cert, key)) = &files.device {
        args.extend([
            "--cert".into(),
            cert.to_str().unwrap().into(),
            "--key".into(),
            key.to_str().unwrap().into(),
        ]);
    }
    args
}

fn tool(name: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(name);
    cmd.kill_on_drop(true).stdin(Stdio::null());
    cmd
}

/// Runs `mosquitto_pub` to the end: (success, what it printed).
async fn publish(args: Vec<String>, topic: &str, message: &Value) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(15),
        tool("mosquitto_pub")
            .args(args)
            .args(["-q", "1", "-t", topic, "-m", &message.to_string()])
            .output(),
    )
    .await
    .expect("mosquitto_pub ends within 15 s")
    .expect("mosquitto_pub runs (package mosquitto-clients: scripts/setup.sh --test)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A running `mosquitto_sub -d`, once its SUBACK has come.
struct Sub {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Sub {
    /// Subscribes at QoS 1 and checks the QoS granted (the device listener
    /// grants 1 for commands, the apps' listener 0).
    async fn start(args: Vec<String>, topic: &str, count: usize, granted_qos: &str) -> Sub {
        // Line-buffered: its debug lines (the SUBACK) are not flushed
        // otherwise when its output is a pipe.
        let mut child = tool("stdbuf")
            .args(["-oL", "mosquitto_sub"])
            .args(args)
            .args(["-d", "-q", "1", "-t", topic, "-C", &count.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub runs (package mosquitto-clients: scripts/setup.sh --test)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let granted = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("Subscribed (mid: 1): ") {
                    return Some(rest.to_owned());
                }
                seen.push(line);
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(granted) = granted else {
            let _ = child.start_kill();
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "no SUBACK within 10 s; mosquitto_sub printed {seen:?} and {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        assert_eq!(granted, granted_qos, "the QoS granted");
        Sub { child, lines }
    }

    /// The next message (a JSON line; the debug lines around it skipped).
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                if line.starts_with('{') {
                    return serde_json::from_str(&line).unwrap();
                }
            }
            panic!("mosquitto_sub ended before the message");
        })
        .await
        .expect("a message within 10 s")
    }

    /// `-C` reached: the tool acknowledges and leaves by itself.
    async fn ends(mut self) {
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("mosquitto_sub ends after its last message")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

async fn command(app: &TestApp, admin: &str, id: i64) -> Command {
    app.get(&format!("/api/v1/commands/{id}"), admin)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_device_journey_with_mosquitto_clients() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let port = app.app.mqtt_addr().port();
    for version in VERSIONS {
        let rid = format!("mosq-{version}");
        let (id, cert, token) = device(&app, &admin, &rid).await;
        let files = files(&app, Some(&cert));

        // Readings at QoS 1: mosquitto_pub leaves after the PUBACK, which
        // comes after the commit, so they are there at once.
        let body = json!({"readings": [{"sensor": "temp", "value": 21.5, "unit": "C"},
                                       {"sensor": "hum", "value": 40}]});
        let (ok, out) = publish(
            common(&files, port, version, &rid, &token),
            &format!("vigil/devices/{rid}/readings"),
            &body,
        )
        .await;
        assert!(ok, "{version}: {out}");
        let readings = stored(&app, &admin, id).await;
        assert_eq!(readings.len(), 2, "{version}");
        assert!(readings
            .iter()
            .any(|r| r.sensor == "temp" && r.value == 21.5));

        // A command, received by a subscribed mosquitto_sub and answered by
        // mosquitto_pub.
        let mut sub = Sub::start(
            common(&files, port, version, &rid, &token),
            &format!("vigil/devices/{rid}/commands"),
            1,
            "1",
        )
        .await;
        let sent: Command = app
            .post(
                &format!("/api/v1/devices/{id}/commands"),
                &admin,
                Some(json!({"name": "reboot", "payload": {"delay_s": 5}})),
            )
            .await
            .json()
            .await
            .unwrap();
        let got = sub.next().await;
        assert_eq!(
            (got["id"].as_i64(), &got["name"], &got["payload"]),
            (Some(sent.id), &json!("reboot"), &json!({"delay_s": 5})),
            "{version}"
        );
        sub.ends().await;
        // Its PUBACK, sent before it left, marks it delivered.
        let mut status = CommandStatus::Queued;
        for _ in 0..50 {
            status = command(&app, &admin, sent.id).await.status;
            if status != CommandStatus::Queued {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, CommandStatus::Delivered, "{version}");
        let (ok, out) = publish(
            common(&files, port, version, &rid, &token),
            &format!("vigil/devices/{rid}/commands/{}/result", sent.id),
            &json!({"status": "succeeded", "result": {"rebooted": true}}),
        )
        .await;
        assert!(ok, "{version}: {out}");
        let done = command(&app, &admin, sent.id).await;
        assert_eq!(
            (done.status, done.result),
            (CommandStatus::Succeeded, Some(json!({"rebooted": true}))),
            "{version}"
        );

        // The same tool with a wrong password is refused, and stores nothing.
        let (ok, out) = publish(
            common(&files, port, version, &rid, "not-the-token"),
            &format!("vigil/devices/{rid}/readings"),
            &body,
        )
        .await;
        assert!(!ok, "{version}: {out}");
        assert!(
            out.to_lowercase().contains("not authori"),
            "{version}: {out}"
        );
        assert_eq!(stored(&app, &admin, id).await.len(), 2, "{version}");
    }
}

#[tokio::test]
async fn an_app_journey_with_mosquitto_clients() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let port = app.app.mqtt_north_addr().port();
    let (_, viewer) = app
        .user_with_role(&admin, "mosq-viewer", Role::Viewer)
        .await;
    let (_, operator) = app
        .user_with_role(&admin, "mosq-operator", Role::Operator)
        .await;
    let files = files(&app, None);
    for version in VERSIONS {
        let rid = format!("mosq-app-{version}");
        let (device, _, client) = app.enrolled_device(&admin, &rid).await;
        let (id, token) = (device.id, device_token(&app, &client).await.token);

        // A viewer follows every device's readings.
        let mut sub = Sub::start(
            common(&files, port, version, "mosq-viewer", &viewer),
            "vigil/devices/+/readings",
            2,
            "0",
        )
        .await;
        let res = send_readings(
            &app,
            &client,
            &token,
            json!({"readings": [{"sensor": "co2", "value": 410, "unit": "ppm"},
                                {"sensor": "co2", "value": 415, "unit": "ppm"}]}),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 202, "{version}");
        for value in [410.0, 415.0] {
            let got = sub.next().await;
            assert_eq!(
                (
                    got["device_id"].as_i64(),
                    got["registration_id"].as_str(),
                    got["sensor"].as_str(),
                    got["value"].as_f64(),
                    got["unit"].as_str()
                ),
                (
                    Some(id),
                    Some(rid.as_str()),
                    Some("co2"),
                    Some(value),
                    Some("ppm")
                ),
                "{version}"
            );
            assert!(got["ts"].is_string(), "{version}: {got}");
        }
        sub.ends().await;

        // An operator sends a command by publishing.
        let (ok, out) = publish(
            common(&files, port, version, "mosq-operator", &operator),
            &format!("vigil/devices/{rid}/commands/send"),
            &json!({"name": "open-valve", "payload": {"percent": 30}, "ttl_s": 60}),
        )
        .await;
        assert!(ok, "{version}: {out}");
        let list: Vec<Command> = app
            .get(&format!("/api/v1/devices/{id}/commands"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list.len(), 1, "{version}");
        assert_eq!(
            (list[0].name.as_str(), &list[0].payload, list[0].status),
            ("open-valve", &json!({"percent": 30}), CommandStatus::Queued),
            "{version}"
        );

        // The viewer's token as a password under another name is refused.
        let (ok, out) = publish(
            common(&files, port, version, "mosq-operator", &viewer),
            &format!("vigil/devices/{rid}/commands/send"),
            &json!({"name": "sneaky"}),
        )
        .await;
        assert!(!ok, "{version}: {out}");
        assert!(
            out.to_lowercase().contains("not authori"),
            "{version}: {out}"
        );
    }
}
