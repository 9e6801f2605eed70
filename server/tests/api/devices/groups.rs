//! Enrollment groups and zero-touch registration: each rule with a chain or
//! a request that tries to get past it, over real handshakes with CAs and
//! certificates made here.

use app::types::{Device, Enrollment, EnrollmentGroup, ErrorCode, GroupStatus};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::{handshake_refused, one_reading};
use crate::{device_helpers::*, helpers::*};

/// A CA made here: its certificate, and the issuer that signs with it.
pub struct TestCa {
    pub pem: String,
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(365);
    p
}

impl TestCa {
    pub fn root(cn: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(cn);
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa {
            pem,
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA this one signs.
    pub fn intermediate(&self, cn: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(cn);
        let pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        TestCa {
            pem,
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate this CA signs for `cn`, shaped by `tweak`.
    pub fn sign(&self, cn: &str, tweak: impl FnOnce(&mut CertificateParams)) -> DeviceCert {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(30);
        tweak(&mut p);
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        DeviceCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    pub fn device(&self, registration_id: &str) -> DeviceCert {
        self.sign(registration_id, |_| {})
    }
}

impl TestApp {
    pub async fn create_group(&self, admin: &str, body: Value) -> reqwest::Response {
        self.post("/api/v1/enrollment-groups", admin, Some(body))
            .await
    }

    /// A group for `ca`, created and verified.
    pub async fn active_group(&self, admin: &str, ca: &TestCa, extra: Value) -> EnrollmentGroup {
        let mut body = json!({"name": "factory line", "ca_pem": ca.pem});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let res = self.create_group(admin, body).await;
        assert_eq!(res.status(), 201);
        let group: EnrollmentGroup = res.json().await.unwrap();
        let proof = ca.sign(&group.verification_code, |_| {});
        let res = self
            .post(
                &format!("/api/v1/enrollment-groups/{}/verify", group.id),
                admin,
                Some(json!({"certificate_pem": proof.cert_pem})),
            )
            .await;
        assert_eq!(res.status(), 200);
        let group: EnrollmentGroup = res.json().await.unwrap();
        assert_eq!(group.status, GroupStatus::Active);
        group
    }

    /// `POST /device/v1/register` with this certificate (and chain): the
    /// status and body, or `None` when the handshake failed.
    pub async fn register(&self, cert: &DeviceCert, chain: &str) -> Option<(u16, Value)> {
        let client = self.device_client(&format!("{}{chain}", cert.cert_pem), &cert.key_pem);
        let res = client
            .post(self.south_url("/device/v1/register"))
            .send()
            .await
            .ok()?;
        Some((res.status().as_u16(), res.json().await.unwrap()))
    }
}

fn code(body: &Value) -> ErrorCode {
    serde_json::from_value(body["error"].clone()).unwrap()
}

#[tokio::test]
async fn a_group_is_verified_by_proof_of_possession_and_its_devices_register_themselves() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("Acme factory CA");
    let res = app
        .create_group(
            &admin,
            json!({"name": "acme", "ca_pem": ca.pem, "max_devices": 100}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let group: EnrollmentGroup = res.json().await.unwrap();
    assert_eq!(group.status, GroupStatus::Unverified);
    assert_eq!(group.registered, 0);
    let verify = |cert: String| {
        let path = format!("/api/v1/enrollment-groups/{}/verify", group.id);
        let app = &app;
        let admin = admin.clone();
        async move {
            let res = app
                .post(&path, &admin, Some(json!({"certificate_pem": cert})))
                .await;
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };

    // Unverified: its devices cannot even get through the handshake.
    let device = ca.device("acme-0001");
    assert_eq!(app.register(&device, "").await, None);

    // Proofs that are not: the right CN signed by another key under the
    // same CA name; the CA's signature on the wrong CN; the CA itself.
    let impostor = TestCa::root("Acme factory CA");
    let (status, body) = verify(impostor.sign(&group.verification_code, |_| {}).cert_pem).await;
    assert_eq!((status, code(&body)), (422, ErrorCode::ValidationFailed));
    assert!(body["message"].as_str().unwrap().contains("not signed"));
    let (status, _) = verify(ca.sign("not-the-code", |_| {}).cert_pem).await;
    assert_eq!(status, 422);
    let (status, _) = verify(ca.pem.clone()).await;
    assert_eq!(status, 422);
    let shown: EnrollmentGroup = app
        .get(&format!("/api/v1/enrollment-groups/{}", group.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.status, GroupStatus::Unverified);

    let (status, body) = verify(ca.sign(&group.verification_code, |_| {}).cert_pem).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");

    // Registration: 201 the first time, 200 and the same device after.
    let (status, first) = app.register(&device, "").await.expect("handshake");
    assert_eq!(status, 201, "{first}");
    let first: Device = serde_json::from_value(first["device"].clone()).unwrap();
    assert_eq!(first.registration_id, "acme-0001");
    assert_eq!(first.enrollment, Enrollment::Group);
    assert_eq!(first.group_id, Some(group.id));
    assert_eq!(first.cert_sha256, device.thumbprint());
    let (status, again) = app.register(&device, "").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_value::<Device>(again["device"].clone())
            .unwrap()
            .id,
        first.id
    );

    // A device like any other now: token, readings, listed.
    let client = app.device_client(&device.cert_pem, &device.key_pem);
    let token = device_token(&app, &client).await;
    let res = send_readings(&app, &client, &token.token, one_reading(20.5))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let listed = app.devices(&admin).await;
    assert!(listed.iter().any(|d| d.id == first.id));
    let shown: EnrollmentGroup = app
        .get(&format!("/api/v1/enrollment-groups/{}", group.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.registered, 1);

    // Audited, device and group both.
    let audit: Vec<Value> = app
        .get("/api/v1/audit?limit=50", &admin)
        .await
        .json()
        .await
        .unwrap();
    let events: Vec<&str> = audit.iter().filter_map(|e| e["event"].as_str()).collect();
    for e in ["group_created", "group_verified", "device_registered"] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }
}

#[tokio::test]
async fn an_unregistered_certificate_reaches_the_registration_route_and_nothing_else() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("Line 2 CA");
    app.active_group(&admin, &ca, json!({})).await;
    let device = ca.device("line2-a");
    let client = app.device_client(&device.cert_pem, &device.key_pem);
    let res = client
        .post(app.south_url("/device/v1/token"))
        .send()
        .await
        .expect("the handshake lets it in");
    let (status, code) = error_code(res).await;
    assert_eq!((status, code), (403, ErrorCode::Forbidden));
    let readings = client
        .post(app.south_url("/device/v1/readings"))
        .header("x-access-token", "x")
        .json(&one_reading(1.0));
    let commands = client
        .get(app.south_url("/device/v1/commands"))
        .header("x-access-token", "x");
    for req in [readings, commands] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{}", res.url());
    }
    // Over MQTT too: CONNECT refused, whatever it claims.
    let (_c, mut el) = crate::mqtt::v5_client(&app, &device, "line2-a", "not-a-token");
    let connack = crate::mqtt::until_v5(&mut el, |p| {
        matches!(p, crate::mqtt::v5::Packet::ConnAck(_))
    })
    .await;
    assert!(
        connack.is_err(),
        "an unregistered certificate has no MQTT session: {connack:?}"
    );
    assert_eq!(app.register(&device, "").await.unwrap().0, 201);
    let res = client
        .post(app.south_url("/device/v1/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn chains_and_names_that_must_not_register_are_refused_at_the_handshake() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("Plant CA");
    app.active_group(&admin, &ca, json!({})).await;

    // Signed by a different CA that carries the group CA's very name.
    let impostor = TestCa::root("Plant CA");
    assert_eq!(app.register(&impostor.device("plant-1"), "").await, None);
    // A CA certificate as a device's.
    let as_ca = ca.sign("plant-2", |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    });
    assert_eq!(app.register(&as_ca, "").await, None);
    // Registration ids outside the syntax, or none.
    for cn in ["Plant-3", "plant 3", "plant/3", "", &"p".repeat(129)] {
        assert_eq!(app.register(&ca.device(cn), "").await, None, "CN {cn}");
    }
    let no_cn = ca.sign("plant-4", |p| {
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::OrganizationName, "plant-4");
    });
    assert_eq!(app.register(&no_cn, "").await, None);
    // Not for clientAuth; expired.
    let server_only = ca.sign("plant-6", |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]
    });
    assert_eq!(app.register(&server_only, "").await, None);
    let expired = ca.sign("plant-7", |p| {
        p.not_before = OffsetDateTime::now_utc() - Duration::days(10);
        p.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    });
    assert_eq!(app.register(&expired, "").await, None);
    // None of them became a device.
    let listed = app.devices(&admin).await;
    assert!(listed.is_empty(), "{listed:?}");
    // While a good one does.
    assert_eq!(
        app.register(&ca.device("plant-8"), "").await.unwrap().0,
        201
    );
}

#[tokio::test]
async fn a_group_on_an_intermediate_takes_chains_through_it_and_only_those() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let root = TestCa::root("Vendor root");
    let line = root.intermediate("Vendor line 7");
    app.active_group(&admin, &line, json!({})).await;
    // Signed by the intermediate: registers, alone or with its chain.
    assert_eq!(app.register(&line.device("l7-a"), "").await.unwrap().0, 201);
    assert_eq!(
        app.register(&line.device("l7-b"), &line.pem)
            .await
            .unwrap()
            .0,
        201
    );
    // Signed by the root directly: not through the group's CA.
    assert_eq!(app.register(&root.device("l7-c"), "").await, None);

    // A group on a root takes a chain through an intermediate the device
    // presents.
    let other_root = TestCa::root("Other vendor root");
    let other_line = other_root.intermediate("Other vendor line");
    app.active_group(&admin, &other_root, json!({})).await;
    assert_eq!(app.register(&other_line.device("ov-a"), "").await, None);
    assert_eq!(
        app.register(&other_line.device("ov-b"), &other_line.pem)
            .await
            .unwrap()
            .0,
        201
    );
}

#[tokio::test]
async fn concurrent_registrations_never_pass_max_devices() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("Limited CA");
    let group = app
        .active_group(&admin, &ca, json!({"max_devices": 3}))
        .await;
    let devices: Vec<DeviceCert> = (0..12).map(|i| ca.device(&format!("lim-{i}"))).collect();
    let results = futures_util::future::join_all(devices.iter().map(|d| app.register(d, ""))).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.as_ref().unwrap().0).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [201, 201, 201, 403, 403, 403, 403, 403, 403, 403, 403, 403]
    );
    let refused = results.iter().flatten().find(|(s, _)| *s == 403).unwrap();
    assert!(refused.1["message"].as_str().unwrap().contains("full"));
    let shown: EnrollmentGroup = app
        .get(&format!("/api/v1/enrollment-groups/{}", group.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.registered, 3);
    let listed = app.devices(&admin).await;
    assert_eq!(listed.len(), 3);
}

#[tokio::test]
async fn one_certificate_registering_many_times_at_once_makes_one_device() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("Race CA");
    let group = app
        .active_group(&admin, &ca, json!({"max_devices": 1}))
        .await;
    let device = ca.device("racer");
    let results = futures_util::future::join_all((0..8).map(|_| app.register(&device, ""))).await;
    let mut ids = Vec::new();
    let mut created = 0;
    for r in results {
        let (status, body) = r.unwrap();
        assert!(status == 201 || status == 200, "{status} {body}");
        created += usize::from(status == 201);
        ids.push(body["device"]["id"].as_i64().unwrap());
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let shown: EnrollmentGroup = app
        .get(&format!("/api/v1/enrollment-groups/{}", group.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown.registered, 1);
}

#[tokio::test]
async fn a_registration_id_held_by_another_certificate_is_a_conflict() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.enrolled_device(&admin, "taken-1").await;
    let ca = TestCa::root("Conflict CA");
    app.active_group(&admin, &ca, json!({})).await;
    let (status, body) = app.register(&ca.device("taken-1"), "").await.unwrap();
    assert_eq!((status, code(&body)), (409, ErrorCode::Conflict));
    // And another certificate of the group for a registered id.
    assert_eq!(app.register(&ca.device("twice"), "").await.unwrap().0, 201);
    let (status, _) = app.register(&ca.device("twice"), "").await.unwrap();
    assert_eq!(status, 409);
}

#[tokio::test]
async fn revoked_and_expired_groups_take_no_registration_and_revoking_with_devices_cuts_them_off() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("Revocable CA");
    let group = app.active_group(&admin, &ca, json!({})).await;
    let kept = ca.device("rev-kept");
    assert_eq!(app.register(&kept, "").await.unwrap().0, 201);
    let kept_client = app.device_client(&kept.cert_pem, &kept.key_pem);
    let kept_token = device_token(&app, &kept_client).await;

    // Revoked without its devices: no new registration (403, saying why),
    // the old device works on.
    let revoke = format!("/api/v1/enrollment-groups/{}/revoke", group.id);
    assert_eq!(app.post(&revoke, &admin, None).await.status(), 204);
    let (status, body) = app.register(&ca.device("rev-new"), "").await.unwrap();
    assert_eq!((status, code(&body)), (403, ErrorCode::Forbidden));
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    // The refused certificate reaches nothing else either.
    let refused = ca.device("rev-new-2");
    let res = app
        .device_client(&refused.cert_pem, &refused.key_pem)
        .post(app.south_url("/device/v1/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = send_readings(&app, &kept_client, &kept_token.token, one_reading(1.0))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // A revoked group is not verified again.
    let proof = ca.sign(&group.verification_code, |_| {});
    let res = app
        .post(
            &format!("/api/v1/enrollment-groups/{}/verify", group.id),
            &admin,
            Some(json!({"certificate_pem": proof.cert_pem})),
        )
        .await;
    assert_eq!(res.status(), 409);

    // With its devices: they are revoked, tokens and handshakes.
    let res = app
        .post(&revoke, &admin, Some(json!({"devices": true})))
        .await;
    assert_eq!(res.status(), 204);
    let res = send_readings(&app, &kept_client, &kept_token.token, one_reading(1.0)).await;
    assert!(
        res.as_ref().map_or(true, |r| r.status() == 401),
        "{:?}",
        res.map(|r| r.status())
    );
    handshake_refused(&app, &app.device_client(&kept.cert_pem, &kept.key_pem)).await;
    let shown: Device = app.devices(&admin).await.remove(0);
    assert_eq!(shown.status, app::types::DeviceStatus::Revoked);

    // A group past its expires_at: 403, saying so.
    let late = TestCa::root("Late CA");
    let soon = (OffsetDateTime::now_utc() + Duration::seconds(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    app.active_group(&admin, &late, json!({"expires_at": soon}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = app.register(&late.device("late-1"), "").await.unwrap();
    assert_eq!(status, 403);
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // An unverified group's devices do not get through the handshake.
    let unverified = TestCa::root("Unverified CA");
    let res = app
        .create_group(&admin, json!({"name": "u", "ca_pem": unverified.pem}))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(app.register(&unverified.device("unv-1"), "").await, None);
}

#[tokio::test]
async fn group_creation_checks_its_ca_and_is_for_admins_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ca = TestCa::root("Checked CA");
    let not_a_ca = ca.device("leaf");
    let bad = [
        json!({"name": "x", "ca_pem": not_a_ca.cert_pem}),
        json!({"name": "x", "ca_pem": format!("{}{}", ca.pem, ca.pem)}),
        json!({"name": "x", "ca_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
        json!({"name": "x", "ca_pem": ca.key_pem}),
        json!({"name": "x", "ca_pem": format!("Subject: Zürich\n{}", ca.pem)}),
        json!({"name": "", "ca_pem": ca.pem}),
        json!({"name": "x", "ca_pem": ca.pem, "max_devices": 0}),
        json!({"name": "x", "ca_pem": ca.pem, "expires_at": "2001-01-01T00:00:00Z"}),
        json!({"name": "x", "ca_pem": ca.pem, "expires_at": "tomorrow"}),
    ];
    for body in bad {
        let res = app.create_group(&admin, body.clone()).await;
        let (status, code) = error_code(res).await;
        assert_eq!((status, code), (422, ErrorCode::ValidationFailed), "{body}");
    }
    let (_, operator) = app
        .user_with_role(&admin, "op", app::types::Role::Operator)
        .await;
    let res = app
        .create_group(&operator, json!({"name": "x", "ca_pem": ca.pem}))
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.get("/api/v1/enrollment-groups", &operator)
            .await
            .status(),
        403
    );
    // One live group per CA.
    let res = app
        .create_group(&admin, json!({"name": "a", "ca_pem": ca.pem}))
        .await;
    assert_eq!(res.status(), 201);
    let first: EnrollmentGroup = res.json().await.unwrap();
    let res = app
        .create_group(&admin, json!({"name": "b", "ca_pem": ca.pem}))
        .await;
    assert_eq!(res.status(), 409);
    let revoke = format!("/api/v1/enrollment-groups/{}/revoke", first.id);
    assert_eq!(app.post(&revoke, &admin, None).await.status(), 204);
    let res = app
        .create_group(&admin, json!({"name": "b", "ca_pem": ca.pem}))
        .await;
    assert_eq!(res.status(), 201);
    let listed: Vec<EnrollmentGroup> = app
        .get("/api/v1/enrollment-groups", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        app.get("/api/v1/enrollment-groups/999999", &admin)
            .await
            .status(),
        404
    );
}

/// The SQLite migration that builds `devices` anew (to let `enrollment` be
/// `group`) on a database made by the migrations before it: every device,
/// reading and command stays, ids go on from where they were, and foreign
/// keys still hold.
#[tokio::test]
async fn a_sqlite_database_from_before_groups_keeps_its_devices_and_their_references() {
    use sqlx::{Connection, Row};
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    std::fs::create_dir(&before).unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    for f in std::fs::read_dir(&all).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().into_string().unwrap();
        if name.as_str() < "0006" {
            std::fs::copy(f.path(), before.join(&name)).unwrap();
        }
    }
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO devices (id, registration_id, name, cert_sha256, cert_serial, enrollment, created_at) \
             VALUES (7, 'old-7', 'Old seven', 'aa', '0102', 'ca_issued', 1)",
            "INSERT INTO readings (device_id, sensor, value, ts, received_at) VALUES (7, 't', 1.5, 1000, 1)",
            "INSERT INTO latest_readings (device_id, sensor, value, ts) VALUES (7, 't', 1.5, 1000)",
            "INSERT INTO tokens (token_id, device_id, token_sha256, issued_at, expires_at) \
             VALUES ('t7', 7, 'x', 1, 2)",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    }
    let db = vigil::db::connect(&url, "migration-test").await.unwrap();
    let r = sqlx::query(
        "SELECT registration_id, name, cert_serial, enrollment, group_id FROM devices WHERE id = 7",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(r.get::<String, _>(0), "old-7");
    assert_eq!(r.get::<String, _>(1), "Old seven");
    assert_eq!(r.get::<String, _>(2), "0102");
    assert_eq!(r.get::<String, _>(3), "ca_issued");
    assert_eq!(r.get::<Option<i64>, _>(4), None);
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM readings WHERE device_id = 7")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // The device's token is bound to the one certificate it had.
    let bound: Option<String> = sqlx::query("SELECT cert_sha256 FROM tokens WHERE token_id = 't7'")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    assert_eq!(bound.as_deref(), Some("aa"));
    // Ids go on; the references still point at the table, and hold.
    let id: i64 = sqlx::query(
        "INSERT INTO devices (registration_id, name, cert_sha256, enrollment, created_at) \
         VALUES ('new', 'new', 'bb', 'group', 2) RETURNING id",
    )
    .fetch_one(&db)
    .await
    .unwrap()
    .get(0);
    assert_eq!(id, 8);
    let orphan = sqlx::query(
        "INSERT INTO readings (device_id, sensor, value, ts, received_at) VALUES (999, 't', 1, 1, 1)",
    )
    .execute(&db)
    .await;
    assert!(orphan.is_err(), "foreign keys are enforced again");
    let bad = sqlx::query(
        "INSERT INTO devices (registration_id, name, cert_sha256, enrollment, created_at) \
         VALUES ('x', 'x', 'cc', 'whatever', 2)",
    )
    .execute(&db)
    .await;
    assert!(bad.is_err(), "the enrollment check holds");
}
