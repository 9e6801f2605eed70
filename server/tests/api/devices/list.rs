//! The devices list: search, state filters, any order, and pages that
//! follow `Link` through that order without a gap or a repeat.

use app::types::{Device, EnrollRequest, ErrorCode};

use crate::{device_helpers::*, helpers::*};

/// Enrolls a self-signed device with this name.
async fn named(app: &TestApp, admin: &str, registration_id: &str, name: &str) -> Device {
    let cert = self_signed(registration_id, CertSpec::default());
    let req = EnrollRequest {
        registration_id: registration_id.to_owned(),
        name: name.to_owned(),
        cert_sha256: Some(cert.thumbprint()),
        csr_pem: None,
    };
    app.enroll(admin, &req).await.device
}

async fn set_last_seen(app: &TestApp, id: i64, at: Option<i64>) {
    sqlx::query("UPDATE devices SET last_seen = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(&app.app.state().db)
        .await
        .unwrap();
}

/// Every page from `path` on, following `Link`: the registration ids in
/// order, the pages' sizes, and the total each page announced.
async fn follow(app: &TestApp, token: &str, path: &str) -> (Vec<String>, Vec<usize>, Vec<i64>) {
    let (mut ids, mut sizes, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = Some(path.to_owned());
    while let Some(path) = next.take() {
        let res = app.get(&path, token).await;
        assert_eq!(res.status(), 200, "{path}");
        totals.push(total_count(&res));
        next = next_link(&res);
        let page: Vec<Device> = res.json().await.unwrap();
        sizes.push(page.len());
        ids.extend(page.into_iter().map(|d| d.registration_id));
        assert!(sizes.len() < 20, "the pages never end");
    }
    (ids, sizes, totals)
}

#[tokio::test]
async fn the_list_pages_through_any_order_with_its_filters_kept() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // Names that tie, differ only in case, and sort otherwise than the ids.
    let fleet = [
        ("list-a", "pump"),
        ("list-b", "Boiler"),
        ("list-c", "boiler"),
        ("list-d", "Valve"),
        ("list-e", "pump"),
        ("list-f", "Alarm"),
        ("list-g", "boiler"),
    ];
    let mut devices = Vec::new();
    for (rid, name) in fleet {
        devices.push(named(&app, &admin, rid, name).await);
    }
    let now = now();
    for (d, seen) in
        devices
            .iter()
            .zip([Some(50), None, Some(10), Some(40), None, Some(30), Some(20)])
    {
        set_last_seen(&app, d.id, seen.map(|s| now - s)).await;
    }

    // By name, case-insensitive, ties by id; descending reverses both.
    let by_name = [
        "list-f", "list-b", "list-c", "list-g", "list-a", "list-e", "list-d",
    ];
    let (ids, sizes, totals) = follow(&app, &admin, "/api/v1/devices?sort=name&limit=3").await;
    assert_eq!(ids, by_name);
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(totals, [7, 7, 7]);
    let (ids, _, _) = follow(&app, &admin, "/api/v1/devices?sort=name&order=desc&limit=2").await;
    assert_eq!(ids, by_name.iter().rev().copied().collect::<Vec<_>>());

    // Last seen, most recent first; never seen last.
    let (ids, _, _) = follow(
        &app,
        &admin,
        "/api/v1/devices?sort=last_seen&order=desc&limit=2",
    )
    .await;
    assert_eq!(
        ids,
        ["list-c", "list-g", "list-f", "list-d", "list-a", "list-e", "list-b"]
    );

    // A search and a state filter hold on every page the Link leads to.
    let (ids, sizes, totals) = follow(
        &app,
        &admin,
        "/api/v1/devices?q=BOILER&status=online&within=60&sort=registration_id&order=desc&limit=1",
    )
    .await;
    assert_eq!(ids, ["list-g", "list-c"]);
    assert_eq!(sizes, [1, 1]);
    assert_eq!(totals, [2, 2]);
    let (ids, _, _) = follow(&app, &admin, "/api/v1/devices?status=offline&within=35").await;
    assert_eq!(ids, ["list-a", "list-b", "list-d", "list-e"]);

    // The contract's id order still pages with after=.
    let res = app.get("/api/v1/devices?limit=4", &admin).await;
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains(&format!("after={}", devices[3].id)), "{link}");
    assert!(!link.contains("cursor"), "{link}");
}

#[tokio::test]
async fn a_search_matches_ids_and_names_and_takes_wildcards_literally() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    named(&app, &admin, "tank-1", "Tank 50% full").await;
    named(&app, &admin, "tank-2", "Tank 50 full").await;
    named(&app, &admin, "pump_x", "Pump").await;
    named(&app, &admin, "pumpyx", "Other").await;
    for (q, want) in [
        ("50%", vec!["tank-1"]),
        ("tank", vec!["tank-1", "tank-2"]),
        // `_` is a letter here, not any letter: "pumpyx" is not found.
        ("p_x", vec!["pump_x"]),
        ("  PUMP  ", vec!["pump_x", "pumpyx"]),
    ] {
        let path = format!("/api/v1/devices?q={}", urlencode(q));
        let (ids, _, _) = follow(&app, &admin, &path).await;
        assert_eq!(ids, want, "q={q:?}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_list_query_it_cannot_follow_is_a_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..3 {
        named(&app, &admin, &format!("bad-{i}"), "x").await;
    }
    let res = app.get("/api/v1/devices?sort=name&limit=1", &admin).await;
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    let cursor = link
        .split("cursor=")
        .nth(1)
        .unwrap()
        .split(['&', '>'])
        .next()
        .unwrap()
        .to_owned();
    let long = "x".repeat(129);
    for bad in [
        "sort=colour".to_owned(),
        "order=up".to_owned(),
        "status=asleep".to_owned(),
        "within=5".to_owned(),
        format!("q={long}"),
        "cursor=bm90IGEgY3Vyc29y".to_owned(),
        "cursor=%%%".to_owned(),
        // A cursor of one order is refused by another.
        format!("sort=last_seen&cursor={cursor}"),
        format!("sort=name&after=3&cursor={cursor}"),
        "sort=name&after=3".to_owned(),
        "order=desc&after=3".to_owned(),
    ] {
        let res = app.get(&format!("/api/v1/devices?{bad}"), &admin).await;
        assert_eq!(
            error_code(res).await,
            (400, ErrorCode::ValidationFailed),
            "{bad}"
        );
    }
    // The cursor itself works for its own order.
    let res = app
        .get(
            &format!("/api/v1/devices?sort=name&limit=1&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    let page: Vec<Device> = res.json().await.unwrap();
    assert_eq!(page[0].registration_id, "bad-1");
}
