//! Running instances: readiness, and SQLite as a single-instance engine.

use vigil::startup::Application;

use crate::helpers::*;

#[tokio::test]
async fn readyz_says_whether_the_database_answers_and_healthz_only_that_the_process_lives() {
    let app = spawn_app().await;
    let get = |path: &'static str| {
        let req = app.client.get(app.url(path));
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(
        get("/readyz").await,
        (200, serde_json::json!({"status": "ready"}))
    );
    // No token needed (a load balancer has none), and none is looked at.
    app.app.state().db.close().await;
    assert_eq!(
        get("/readyz").await,
        (503, serde_json::json!({"status": "unavailable"}))
    );
    assert_eq!(get("/healthz").await.0, 200);
}

#[tokio::test]
async fn a_second_instance_on_the_same_sqlite_file_is_refused_and_on_postgresql_is_not() {
    let app = spawn_app().await;
    let second = Application::build(app.settings.clone()).await;
    if app.settings.database_url.is_some() {
        // PostgreSQL: several instances on one database are the point.
        let second = second.expect("a second instance on PostgreSQL starts");
        assert_ne!(second.north_addr(), app.addr);
        return;
    }
    let refused = format!("{:#}", second.err().expect("refused"));
    assert!(
        refused.contains("another Vigil instance is running on the SQLite database")
            && refused.contains("PostgreSQL"),
        "{refused}"
    );
    // The first is untouched, and once it stops, the file is free again.
    let admin = app.admin_token().await;
    assert_eq!(app.get("/api/v1/auth/me", &admin).await.status(), 200);
    let (settings, data) = (app.settings.clone(), app.data);
    drop(app.app);
    let again = start(settings, data).await;
    assert_eq!(again.get("/api/v1/auth/me", &admin).await.status(), 200);
}

/// Another instance on the same PostgreSQL database, with the same PKI
/// files (copied into a data dir of its own) and signing keys.
async fn second_instance(a: &TestApp) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let pki = data.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    for f in std::fs::read_dir(a.data_path().join("pki")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), pki.join(f.file_name())).unwrap();
    }
    let mut settings = a.settings.clone();
    settings.data_dir = data.path().to_path_buf();
    start(settings, data).await
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/auth/me", token).await.status().as_u16()
}

async fn device_token_status(app: &TestApp, client: &reqwest::Client) -> Option<u16> {
    client
        .post(app.south_url("/device/v1/token"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn changes_made_through_one_instance_hold_on_another_within_a_second() {
    let a = spawn_app().await;
    if a.settings.database_url.is_none() {
        return; // SQLite: one instance only (see above).
    }
    let b = second_instance(&a).await;
    let admin = a.admin_token().await;
    let bound = std::time::Duration::from_secs(1);

    // A logout on A: refused on B.
    let session = a.session("admin", &a.admin_password).await.token;
    assert_eq!(me(&b, &session).await, 200);
    assert_eq!(
        a.post("/api/v1/auth/logout", &session, None).await.status(),
        204
    );
    let took = held_since(std::time::Instant::now(), || async {
        me(&b, &session).await == 401
    })
    .await;
    assert!(took < bound, "refused on B after {took:?}");

    // A device enrolled on A: accepted by B.
    let (device, cert, _) = a.enrolled_device(&admin, "cluster-meter").await;
    let on_b = || b.device_client(&cert.cert_pem, &cert.key_pem);
    let took = held_since(std::time::Instant::now(), || async {
        device_token_status(&b, &on_b()).await == Some(200)
    })
    .await;
    assert!(took < bound, "accepted on B after {took:?}");

    // Revoked on A: refused by B, whose connection was open.
    let client = on_b();
    assert_eq!(device_token_status(&b, &client).await, Some(200));
    let res = a
        .post(
            &format!("/api/v1/devices/{}/revoke", device.id),
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let took = held_since(std::time::Instant::now(), || async {
        device_token_status(&b, &client).await != Some(200)
    })
    .await;
    assert!(took < bound, "refused on B after {took:?}");
}

#[tokio::test]
async fn a_revocation_made_while_an_instance_lost_its_database_connection_still_holds_there() {
    let a = spawn_app().await;
    if a.settings.database_url.is_none() {
        return;
    }
    let b = second_instance(&a).await;
    let session = a.session("admin", &a.admin_password).await.token;
    assert_eq!(me(&b, &session).await, 200);
    // Every listening connection of this database is cut (B's among them),
    // and the token is revoked through A before they are back.
    let db = &a.app.state().db;
    let cut: Vec<sqlx::any::AnyRow> = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(cut.len(), 2, "A's and B's listening connections");
    assert_eq!(
        a.post("/api/v1/auth/logout", &session, None).await.status(),
        204
    );
    let took = held_since(std::time::Instant::now(), || async {
        me(&b, &session).await == 401
    })
    .await;
    assert!(
        took < std::time::Duration::from_secs(1),
        "refused on B after {took:?}"
    );
}

#[tokio::test]
async fn a_command_sent_through_one_instance_reaches_its_device_on_another_and_the_answer_comes_back(
) {
    use crate::{device_helpers::*, mqtt::*};
    use app::types::{Command, CommandStatus};
    use serde_json::json;

    let a = spawn_app().await;
    if a.settings.database_url.is_none() {
        return;
    }
    let b = second_instance(&a).await;
    let admin = a.admin_token().await;
    let (device, cert, _) = a.enrolled_device(&admin, "cluster-pump").await;
    let on_b = b.device_client(&cert.cert_pem, &cert.key_pem);
    let token = held_since(std::time::Instant::now(), || async {
        device_token_status(&b, &on_b).await == Some(200)
    })
    .await;
    assert!(token < std::time::Duration::from_secs(1));
    let token = device_token(&b, &on_b).await.token;

    // Over HTTP: the device long-polls B; the sender waits on A.
    let poll = {
        let (url, token, client) = (
            b.south_url("/device/v1/commands?wait=10"),
            token.clone(),
            on_b.clone(),
        );
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let got: Vec<serde_json::Value> = client
                .get(url)
                .header("x-access-token", token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (got, started.elapsed())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sent_at = std::time::Instant::now();
    let sending = {
        let (client, url, admin) = (
            a.client.clone(),
            a.url(&format!("/api/v1/devices/{}/commands?wait=10", device.id)),
            admin.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .header("x-access-token", admin)
                .json(&json!({"name": "start", "payload": {"rpm": 900}}))
                .send()
                .await
                .unwrap()
                .json::<Command>()
                .await
                .unwrap()
        })
    };
    let (got, _) = poll.await.unwrap();
    assert!(
        sent_at.elapsed() < std::time::Duration::from_secs(1),
        "reached the device on B after {:?}",
        sent_at.elapsed()
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["payload"], json!({"rpm": 900}));
    let id = got[0]["id"].as_i64().unwrap();
    let res = on_b
        .post(b.south_url(&format!("/device/v1/commands/{id}/result")))
        .header("x-access-token", &token)
        .json(&json!({"status": "succeeded", "result": {"rpm": 900}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let answered_at = std::time::Instant::now();
    let done = sending.await.unwrap();
    assert!(answered_at.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        (done.id, done.status, done.result),
        (id, CommandStatus::Succeeded, Some(json!({"rpm": 900}))),
        "the sender on A saw B's answer"
    );

    // Over MQTT: the device subscribed on B, the command sent through A.
    let (client, mut el) = v5_client(&b, &cert, "cluster-pump", &token);
    until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
        .await
        .unwrap();
    client
        .subscribe("vigil/devices/cluster-pump/commands", v5::QoS::AtLeastOnce)
        .await
        .unwrap();
    until_v5(&mut el, |p| matches!(p, v5::Packet::SubAck(_)))
        .await
        .unwrap();
    let res = a
        .post(
            &format!("/api/v1/devices/{}/commands", device.id),
            &admin,
            Some(json!({"name": "stop"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let sent_at = std::time::Instant::now();
    let v5::Packet::Publish(p) = until_v5(&mut el, |p| matches!(p, v5::Packet::Publish(_)))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert!(sent_at.elapsed() < std::time::Duration::from_secs(1));
    let got: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(got["name"], "stop");
}

#[tokio::test]
async fn readings_stored_through_one_instance_reach_the_subscribers_of_another_once() {
    use crate::{device_helpers::*, mqtt::*};
    use serde_json::json;

    let a = spawn_app().await;
    if a.settings.database_url.is_none() {
        return;
    }
    let b = second_instance(&a).await;
    let admin = a.admin_token().await;
    let (_, _, client) = a.enrolled_device(&admin, "cluster-meter").await;
    let token = device_token(&a, &client).await.token;

    // An app follows readings on each instance.
    let mut followers = Vec::new();
    for app in [&a, &b] {
        let (c, mut el) = app_v5(app, "admin", &admin);
        until_v5(&mut el, |p| matches!(p, v5::Packet::ConnAck(_)))
            .await
            .unwrap();
        c.subscribe("vigil/devices/+/readings", v5::QoS::AtMostOnce)
            .await
            .unwrap();
        until_v5(&mut el, |p| matches!(p, v5::Packet::SubAck(_)))
            .await
            .unwrap();
        followers.push((c, el));
    }
    let res = send_readings(
        &a,
        &client,
        &token,
        json!({"readings": [{"sensor": "flow", "value": 7.5, "unit": "l/min"}]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    let stored_at = std::time::Instant::now();
    for (i, (_, el)) in followers.iter_mut().enumerate() {
        let v5::Packet::Publish(p) = until_v5(el, |p| matches!(p, v5::Packet::Publish(_)))
            .await
            .unwrap()
        else {
            unreachable!()
        };
        let got: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
        assert_eq!(
            (&got["registration_id"], &got["sensor"], &got["value"]),
            (&json!("cluster-meter"), &json!("flow"), &json!(7.5)),
            "instance {i}"
        );
    }
    assert!(
        stored_at.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        stored_at.elapsed()
    );
    // Once each: neither instance publishes it a second time.
    for (i, (_, el)) in followers.iter_mut().enumerate() {
        let again = tokio::time::timeout(std::time::Duration::from_millis(500), async {
            loop {
                if let Ok(v5::Event::Incoming(v5::Packet::Publish(_))) = el.poll().await {
                    return;
                }
            }
        })
        .await;
        assert!(again.is_err(), "instance {i} published it twice");
    }
}

#[tokio::test]
async fn an_enrollment_group_verified_or_revoked_on_one_instance_holds_on_another() {
    use crate::devices::groups::TestCa;
    let a = spawn_app().await;
    if a.settings.database_url.is_none() {
        return; // SQLite: one instance only.
    }
    let b = second_instance(&a).await;
    let admin = a.admin_token().await;
    let bound = std::time::Duration::from_secs(1);
    let ca = TestCa::root("Cluster factory CA");
    let group = a.active_group(&admin, &ca, serde_json::json!({})).await;

    // Verified on A: devices register through B.
    let first = ca.device("cluster-reg-1");
    let took = held_since(std::time::Instant::now(), || async {
        b.register(&first, "").await.map(|r| r.0) == Some(201)
    })
    .await;
    assert!(took < bound, "registered on B after {took:?}");
    // Registered on B: a device on A.
    let on_a = a.device_client(&first.cert_pem, &first.key_pem);
    let took = held_since(std::time::Instant::now(), || async {
        device_token_status(&a, &on_a).await == Some(200)
    })
    .await;
    assert!(took < bound, "a device on A after {took:?}");

    // Revoked on A: B takes no new registration.
    let revoke = format!("/api/v1/enrollment-groups/{}/revoke", group.id);
    assert_eq!(a.post(&revoke, &admin, None).await.status(), 204);
    let took = held_since(std::time::Instant::now(), || async {
        b.register(&ca.device("cluster-reg-2"), "")
            .await
            .map(|r| r.0)
            == Some(403)
    })
    .await;
    assert!(took < bound, "refused on B after {took:?}");
}

#[tokio::test]
async fn a_key_rotation_on_one_instance_holds_on_another_and_a_wrong_kek_is_refused() {
    let a = spawn_app().await;
    if a.settings.database_url.is_none() {
        return; // SQLite: one instance only.
    }
    let b = second_instance(&a).await;
    let admin = a.admin_token().await;
    let res = a.post("/api/v1/keys/rotate", &admin, None).await;
    assert_eq!(res.status(), 201);
    let new: app::types::SigningKey = res.json().await.unwrap();
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    let took = held_since(std::time::Instant::now(), || async {
        kid(&b.admin_token().await) == new.kid
    })
    .await;
    assert!(
        took < std::time::Duration::from_secs(1),
        "B signs with it after {took:?}"
    );
    // Each accepts the other's tokens, old key and new.
    let from_b = b.admin_token().await;
    assert_eq!(me(&a, &from_b).await, 200);
    assert_eq!(me(&b, &admin).await, 200);

    // An instance whose key-encryption key differs cannot open the keys:
    // it says so and does not start.
    let data = tempfile::tempdir().unwrap();
    let mut settings = a.settings.clone();
    settings.data_dir = data.path().to_path_buf();
    settings.key_encryption_key = Some("cd".repeat(32).into());
    let refused = match vigil::startup::Application::build(settings).await {
        Ok(_) => panic!("started with another key-encryption key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("key-encryption key"), "{refused}");
}

#[tokio::test]
async fn a_certificate_renewed_through_one_instance_and_first_used_on_another_retires_the_old_everywhere(
) {
    let a = spawn_app().await;
    if a.settings.database_url.is_none() {
        return; // SQLite: one instance only.
    }
    let b = second_instance(&a).await;
    let admin = a.admin_token().await;
    let (csr_pem, key_pem) = crate::device_helpers::csr("cluster-renew");
    let enrolled = a
        .enroll(
            &admin,
            &app::types::EnrollRequest {
                registration_id: "cluster-renew".into(),
                name: "cluster-renew".into(),
                csr_pem: Some(csr_pem),
                ..Default::default()
            },
        )
        .await;
    let old_pem = enrolled.certificate_pem.unwrap();
    let on_a = a.device_client(&old_pem, &key_pem);
    let token = crate::device_helpers::device_token(&a, &on_a).await.token;
    let (new_csr, new_key) = crate::device_helpers::csr("cluster-renew");
    let res = on_a
        .post(a.south_url("/device/v1/certificate"))
        .header("x-access-token", &token)
        .json(&serde_json::json!({ "csr_pem": new_csr }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let new_pem = res
        .json::<app::types::RenewResponse>()
        .await
        .unwrap()
        .certificate_pem;
    // B knows the new certificate, and its first use there retires the
    // old one on A.
    let new_on_b = b.device_client(&new_pem, &new_key);
    let took = held_since(std::time::Instant::now(), || async {
        device_token_status(&b, &new_on_b).await == Some(200)
    })
    .await;
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    let took = held_since(std::time::Instant::now(), || async {
        device_token_status(&a, &a.device_client(&old_pem, &key_pem)).await != Some(200)
    })
    .await;
    assert!(
        took < std::time::Duration::from_secs(1),
        "old refused on A after {took:?}"
    );
}
