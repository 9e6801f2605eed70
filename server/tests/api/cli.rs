//! The `vigil-device` binary against a running Vigil.

use std::process::Output;

use app::types::{Device, DeviceToken, Reading, TokenInfo};

use crate::helpers::*;

async fn vigil_device(app: &TestApp, token: &str, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil-device"));
    cmd.arg("--north")
        .arg(app.url(""))
        .arg("--south")
        .arg(app.south_url(""))
        .arg("--ca")
        .arg(app.data_path().join("pki/platform-ca.pem"))
        .arg("--mqtt-addr")
        .arg(app.app.mqtt_addr().to_string())
        .args(args)
        .env("VIGIL_TOKEN", token);
    cmd.output().await.unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn a_device_enrolls_gets_a_token_and_sends_with_the_cli() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (name, extra) in [("cli-self", None), ("cli-csr", Some("--csr"))] {
        let dir = tempfile::tempdir().unwrap();
        let out_dir = dir.path().to_str().unwrap();
        let mut args = vec!["enroll", "--registration-id", name, "--out", out_dir];
        args.extend(extra);
        let out = vigil_device(&app, &admin, &args).await;
        assert!(out.status.success(), "{}", text(&out));
        let device: Device = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(device.registration_id, name);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("device.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);

        let out = vigil_device(&app, "", &["token", "--dir", out_dir]).await;
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice::<DeviceToken>(&out.stdout).expect("a device token");

        let out = vigil_device(
            &app,
            "",
            &[
                "send",
                "--dir",
                out_dir,
                "temperature=21.5C",
                "humidity=40%",
            ],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("2 readings stored"));
        let id = device.id;
        let stored: Vec<Reading> = app
            .get(&format!("/api/v1/devices/{id}/readings"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(stored.len(), 2);

        // Revoked: the CLI says so plainly.
        app.post(&format!("/api/v1/devices/{id}/revoke"), &admin, None)
            .await;
        let out = vigil_device(&app, "", &["send", "--dir", out_dir, "temperature=1"]).await;
        assert!(!out.status.success());
        assert!(text(&out).contains("refused"), "{}", text(&out));
    }
}

#[tokio::test]
async fn simulate_runs_a_small_fleet_and_reports() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let out = vigil_device(
        &app,
        &admin,
        &[
            "simulate",
            "--devices",
            "3",
            "--rate",
            "5",
            "--batch",
            "4",
            "--duration",
            "2",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("devices 3") && report.contains("errors 0"),
        "{report}"
    );
    let devices = app.devices(&admin).await;
    assert_eq!(devices.len(), 3);
}

#[tokio::test]
async fn enrolling_without_a_token_is_a_clear_error() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let out = vigil_device(
        &app,
        "not-a-token",
        &[
            "enroll",
            "--registration-id",
            "x",
            "--out",
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("token"), "{}", text(&out));
}

#[tokio::test]
async fn send_keeps_its_device_token_and_replaces_it_only_when_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let out = vigil_device(
        &app,
        &admin,
        &["enroll", "--registration-id", "keeper", "--out", out_dir],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let id = serde_json::from_slice::<Device>(&out.stdout).unwrap().id;
    let tokens_issued = || async {
        let list: Vec<TokenInfo> = app
            .get(&format!("/api/v1/tokens?device_id={id}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        list.len()
    };

    for value in ["1", "2", "3"] {
        let reading = format!("level={value}");
        let out = vigil_device(&app, "", &["send", "--dir", out_dir, &reading]).await;
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(tokens_issued().await, 1, "one token for three sends");
    use std::os::unix::fs::PermissionsExt;
    let kept = dir.path().join("device.token");
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Its tokens revoked, the device gets a new one and carries on.
    let res = app
        .post(&format!("/api/v1/devices/{id}/revoke-tokens"), &admin, None)
        .await;
    assert_eq!(res.status(), 204);
    let out = vigil_device(&app, "", &["send", "--dir", out_dir, "level=4"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tokens_issued().await, 2);
}

#[tokio::test]
async fn listen_runs_the_program_on_each_command_and_answers_with_its_output() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let out = vigil_device(
        &app,
        &admin,
        &["enroll", "--registration-id", "listener", "--out", out_dir],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let id = serde_json::from_slice::<Device>(&out.stdout).unwrap().id;
    let script = dir.path().join("handler.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ninput=$(cat)\ncase \"$input\" in *'\"name\":\"fail\"'*) echo broken >&2; exit 3;; esac\nprintf '{\"got\": %s}\\n' \"$input\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();

    let mut listener = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil-device"))
        .arg("--south")
        .arg(app.south_url(""))
        .arg("--ca")
        .arg(app.data_path().join("pki/platform-ca.pem"))
        .args(["listen", "--dir", out_dir, "--exec"])
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let send = async |name: &str| -> app::types::Command {
        let res = app
            .post(
                &format!("/api/v1/devices/{id}/commands?wait=20"),
                &admin,
                Some(serde_json::json!({"name": name, "payload": {"level": 7}})),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    };
    let ok = send("fill").await;
    assert_eq!(ok.status, app::types::CommandStatus::Succeeded, "{ok:?}");
    let got = &ok.result.as_ref().unwrap()["got"];
    assert_eq!(got["payload"], serde_json::json!({"level": 7}));
    assert_eq!(got["id"], ok.id);
    let failed = send("fail").await;
    assert_eq!(failed.status, app::types::CommandStatus::Failed);
    assert_eq!(
        failed.result,
        Some(serde_json::json!({"exit_code": 3, "stderr": "broken"}))
    );

    // One line per command on its output, printed once each answer is
    // stored (so read until both are there, then stop the listener).
    use tokio::io::AsyncBufReadExt;
    let mut out = tokio::io::BufReader::new(listener.stdout.take().unwrap()).lines();
    let mut lines = String::new();
    while lines.lines().count() < 2 {
        match tokio::time::timeout(std::time::Duration::from_secs(5), out.next_line()).await {
            Ok(Ok(Some(line))) => {
                lines.push_str(&line);
                lines.push('\n');
            }
            _ => break,
        }
    }
    listener.start_kill().unwrap();
    let _ = listener.wait().await;
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.contains(&format!("command {} fill: succeeded", ok.id)),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("command {} fail: failed", failed.id)),
        "{lines}"
    );
}

#[tokio::test]
async fn simulated_devices_answer_commands() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let out = vigil_device(
        &app,
        &admin,
        &[
            "simulate",
            "--devices",
            "3",
            "--batch",
            "0",
            "--duration",
            "3",
            "--commands",
            "--send-commands",
            "10",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("not succeeded 0"), "{report}");
    let answered: u64 = report
        .split("commands answered by devices ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(answered >= 10, "{report}");
}

#[tokio::test]
async fn a_simulated_fleet_that_only_listens_answers_for_its_whole_run() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut sim = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil-device"))
        .arg("--north")
        .arg(app.url(""))
        .arg("--south")
        .arg(app.south_url(""))
        .arg("--ca")
        .arg(app.data_path().join("pki/platform-ca.pem"))
        .args([
            "simulate",
            "--devices",
            "2",
            "--batch",
            "0",
            "--commands",
            "--duration",
            "6",
        ])
        .env("VIGIL_TOKEN", &admin)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut devices: Vec<Device> = Vec::new();
    for _ in 0..50 {
        devices = app.devices(&admin).await;
        if devices.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(devices.len(), 2);
    // Well after the devices started, they still answer.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for d in &devices {
        let res = app
            .post(
                &format!("/api/v1/devices/{}/commands?wait=3", d.id),
                &admin,
                Some(serde_json::json!({"name": "ping", "payload": 1})),
            )
            .await;
        let c: app::types::Command = res.json().await.unwrap();
        assert_eq!(c.status, app::types::CommandStatus::Succeeded, "{c:?}");
        assert_eq!(c.result, Some(serde_json::json!({"echo": 1})));
    }
    assert!(sim.wait().await.unwrap().success());
}

#[tokio::test]
async fn a_device_sends_and_listens_over_mqtt_with_the_cli() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let out = vigil_device(
        &app,
        &admin,
        &["enroll", "--registration-id", "mqtt-cli", "--out", out_dir],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let id = serde_json::from_slice::<Device>(&out.stdout).unwrap().id;
    let out = vigil_device(
        &app,
        "",
        &["send", "--mqtt", "--dir", out_dir, "level=4", "flow=2l"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 readings stored"), "{}", text(&out));
    let stored: Vec<Reading> = app
        .get(&format!("/api/v1/devices/{id}/readings"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);

    let mut listener = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil-device"))
        .arg("--south")
        .arg(app.south_url(""))
        .arg("--ca")
        .arg(app.data_path().join("pki/platform-ca.pem"))
        .arg("--mqtt-addr")
        .arg(app.app.mqtt_addr().to_string())
        .args(["listen", "--mqtt", "--dir", out_dir])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut answered = None;
    // The listener subscribes after its CONNECT: retry until it answers.
    for _ in 0..10 {
        let res = app
            .post(
                &format!("/api/v1/devices/{id}/commands?wait=2"),
                &admin,
                Some(serde_json::json!({"name": "mqtt-ping", "payload": {"n": 1}})),
            )
            .await;
        let c: app::types::Command = res.json().await.unwrap();
        if c.status == app::types::CommandStatus::Succeeded {
            answered = Some(c);
            break;
        }
    }
    let c = answered.expect("a command answered over MQTT");
    assert_eq!(c.result, Some(serde_json::json!({"echo": {"n": 1}})));
    // Its line is printed once the answer is sent: read until it comes.
    use tokio::io::AsyncBufReadExt;
    let want = format!("command {} mqtt-ping: succeeded", c.id);
    let mut out = tokio::io::BufReader::new(listener.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    while !seen.contains(&want) {
        match tokio::time::timeout(std::time::Duration::from_secs(5), out.next_line()).await {
            Ok(Ok(Some(line))) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            _ => break,
        }
    }
    listener.start_kill().unwrap();
    let _ = listener.wait().await;
    assert!(seen.contains(&want), "{seen}");
}

#[tokio::test]
async fn simulate_sends_over_mqtt() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let out = vigil_device(
        &app,
        &admin,
        &[
            "simulate",
            "--devices",
            "3",
            "--rate",
            "5",
            "--batch",
            "4",
            "--duration",
            "2",
            "--mqtt",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("errors 0") && report.contains("over MQTT"),
        "{report}"
    );
    let devices = app.devices(&admin).await;
    let mut stored = 0;
    for d in &devices {
        let r: Vec<Reading> = app
            .get(
                &format!("/api/v1/devices/{}/readings?limit=1000", d.id),
                &admin,
            )
            .await
            .json()
            .await
            .unwrap();
        stored += r.len();
    }
    assert!(stored >= 3 * 4 * 5, "{stored} readings stored: {report}");
}

#[tokio::test]
async fn a_device_registers_through_its_group_with_the_cli_and_no_operator_token() {
    use crate::devices::groups::TestCa;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("CLI factory CA");
    let group = app.active_group(&admin, &ca, serde_json::json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    std::fs::write(dir.path().join("ca.key"), &ca.key_pem).unwrap();
    let out_dir = dir.path().join("device");
    let register = [
        "register",
        "--ca-cert",
        dir.path().join("ca.pem").to_str().unwrap(),
        "--ca-key",
        dir.path().join("ca.key").to_str().unwrap(),
        "--registration-id",
        "cli-factory-1",
        "--out",
        out_dir.to_str().unwrap(),
    ]
    .map(str::to_owned);
    let args: Vec<&str> = register.iter().map(String::as_str).collect();
    let out = vigil_device(&app, "", &args).await;
    assert!(out.status.success(), "{}", text(&out));
    let device: Device = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(device.registration_id, "cli-factory-1");
    assert_eq!(device.group_id, Some(group.id));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out_dir.join("device.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // The files it wrote are the device's: it sends with them.
    let out = vigil_device(
        &app,
        "",
        &[
            "send",
            "--dir",
            out_dir.to_str().unwrap(),
            "temperature=20C",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    // A group revoked: the CLI says why.
    let revoke = format!("/api/v1/enrollment-groups/{}/revoke", group.id);
    assert_eq!(app.post(&revoke, &admin, None).await.status(), 204);
    let mut again = register.clone();
    again[6] = "cli-factory-2".into();
    let args: Vec<&str> = again.iter().map(String::as_str).collect();
    let out = vigil_device(&app, "", &args).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_device_renews_its_certificate_with_the_cli_and_keeps_the_old_files() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = vigil_device(
        &app,
        &admin,
        &[
            "enroll",
            "--registration-id",
            "cli-renew",
            "--csr",
            "--out",
            d,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let device: Device = serde_json::from_slice(&out.stdout).unwrap();
    let old_pem = std::fs::read_to_string(dir.path().join("device.pem")).unwrap();
    let out = vigil_device(&app, "", &["renew", "--dir", d]).await;
    assert!(out.status.success(), "{}", text(&out));
    let new_pem = std::fs::read_to_string(dir.path().join("device.pem")).unwrap();
    assert_ne!(new_pem, old_pem);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("device.pem.old")).unwrap(),
        old_pem
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("device.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // The device goes on with the new files; it is the device's now.
    let out = vigil_device(&app, "", &["send", "--dir", d, "temperature=3C"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let shown: Device = app
        .get(&format!("/api/v1/devices/{}", device.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(text(&out).contains("1 readings stored"));
    assert!(
        String::from_utf8_lossy(&vigil_device(&app, "", &["renew", "--dir", d]).await.stdout)
            .contains("renewed")
    );
    assert_ne!(shown.cert_sha256, device.cert_sha256);
}
