use app::types::{ErrorCode, RevocationReason, Role, TokenInfo};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_registry_lists_tokens_by_user_and_state_without_the_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (uid, user_token) = app.user_with_role(&admin, "lee", Role::Viewer).await;
    app.post("/api/v1/auth/logout", &user_token, None).await;

    let raw: Value = app
        .get(&format!("/api/v1/tokens?user_id={uid}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let mine: Vec<TokenInfo> = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].blacklist);
    assert_eq!(mine[0].blacklist_reason, Some(RevocationReason::Logout));
    assert!(raw[0].get("token").is_none());

    let active: Vec<TokenInfo> = app
        .get(&format!("/api/v1/tokens?user_id={uid}&active=true"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(active.is_empty());
    let inactive: Vec<TokenInfo> = app
        .get("/api/v1/tokens?active=false", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inactive.len(), 1);
}

#[tokio::test]
async fn revoking_an_unknown_token_is_not_found_and_a_bad_filter_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_eq!(
        error_code(app.post("/api/v1/tokens/nope/revoke", &admin, None).await).await,
        (404, ErrorCode::NotFound)
    );
    for odd in ["%00", "a%20b", "%E2%9C%93"] {
        let res = app
            .post(&format!("/api/v1/tokens/{odd}/revoke"), &admin, None)
            .await;
        assert_eq!(error_code(res).await, (404, ErrorCode::NotFound), "{odd}");
    }
    assert_eq!(
        error_code(app.get("/api/v1/tokens?user_id=abc", &admin).await).await,
        (400, ErrorCode::ValidationFailed)
    );
    assert_eq!(
        error_code(app.get("/api/v1/tokens?limit=0", &admin).await)
            .await
            .1,
        ErrorCode::ValidationFailed
    );
}

#[tokio::test]
async fn the_sweeper_marks_expired_tokens_and_purges_old_ones() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = &app.app.state().db;
    let now = now();
    for (id, exp) in [
        ("expired-recently", now - 60),
        ("expired-long-ago", now - 30 * 86_400),
    ] {
        sqlx::query("INSERT INTO tokens (token_id, user_id, token_sha256, issued_at, expires_at) VALUES ($1, 1, 'x', $2, $3)")
            .bind(id)
            .bind(exp - 3600)
            .bind(exp)
            .execute(db)
            .await
            .unwrap();
    }
    vigil::tokens::sweeper::sweep_once(&app.app.state().tokens, app.settings.token_retention).await;
    let list: Vec<TokenInfo> = app
        .get("/api/v1/tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list.iter().map(|t| t.token_id.as_str()).collect();
    assert!(!ids.contains(&"expired-long-ago"), "purged after retention");
    let recent = list
        .iter()
        .find(|t| t.token_id == "expired-recently")
        .unwrap();
    assert!(recent.blacklist);
    assert_eq!(recent.blacklist_reason, Some(RevocationReason::Expired));
    assert_eq!(
        app.get("/api/v1/auth/me", &admin).await.status(),
        200,
        "live tokens untouched"
    );
}

#[tokio::test]
async fn a_revocation_written_by_another_instance_is_picked_up() {
    let app = spawn_app().await;
    let token = app.session(ADMIN, &app.admin_password).await;
    let t = token.token.as_str();
    assert_eq!(app.get("/api/v1/auth/me", t).await.status(), 200);
    // Another instance sharing the database blacklists it.
    sqlx::query("UPDATE tokens SET blacklist = 1, blacklist_reason = 'admin_revoked', blacklisted_at = $1 WHERE token_id = $2")
        .bind(now())
        .bind(token.token_id.as_str())
        .execute(&app.app.state().db)
        .await
        .unwrap();
    let mut refused = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let res = app.get("/api/v1/auth/me", t).await;
        if res.status() == 401 {
            assert_eq!(error_code(res).await.1, ErrorCode::TokenRevoked);
            refused = true;
            break;
        }
    }
    assert!(refused, "the revocation reached this instance within 8 s");
}

#[tokio::test]
async fn a_token_is_recorded_only_while_its_user_keeps_the_role_it_claims() {
    let app = spawn_app().await;
    let state = app.app.state();
    let record = |id: &'static str, user: i64| vigil::tokens::store::NewToken {
        token_id: id,
        owner: vigil::tokens::store::Owner::User(user),
        digest: "d",
        issued_at: now(),
        expires_at: now() + 60,
        cert: None,
    };
    let insert = vigil::tokens::store::insert;
    assert!(insert(
        &state.db,
        state.engine,
        &record("as-admin", 1),
        Some("admin")
    )
    .await
    .unwrap());
    assert!(!insert(
        &state.db,
        state.engine,
        &record("as-viewer", 1),
        Some("viewer")
    )
    .await
    .unwrap());
    assert!(
        !insert(&state.db, state.engine, &record("gone", 999), Some("admin"))
            .await
            .unwrap()
    );
}

/// Every page from `path` on, following `Link`: the token ids in order and
/// the total each page announced.
async fn follow(app: &TestApp, token: &str, path: &str) -> (Vec<String>, Vec<i64>) {
    let (mut ids, mut totals) = (Vec::new(), Vec::new());
    let mut next = Some(path.to_owned());
    while let Some(path) = next.take() {
        let res = app.get(&path, token).await;
        assert_eq!(res.status(), 200, "{path}");
        totals.push(total_count(&res));
        next = next_link(&res);
        let page: Vec<TokenInfo> = res.json().await.unwrap();
        ids.extend(page.into_iter().map(|t| t.token_id));
        assert!(totals.len() < 30, "the pages never end");
    }
    (ids, totals)
}

#[tokio::test]
async fn tokens_are_filtered_by_kind_and_state_and_paged_through_link() {
    use crate::device_helpers::*;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = &app.app.state().db;
    let now = now();
    // Issued in the same second (ties the cursor must break) and apart:
    // active, revoked, past their end, and marked expired by the sweeper.
    let rows: [(&str, i64, i64, bool, Option<&str>); 7] = [
        ("t-active-a", now - 100, now + 3600, false, None),
        ("t-active-b", now - 100, now + 3600, false, None),
        ("t-active-c", now - 100, now + 3600, false, None),
        (
            "t-revoked",
            now - 200,
            now + 3600,
            true,
            Some("admin_revoked"),
        ),
        ("t-logout", now - 300, now + 3600, true, Some("logout")),
        ("t-past", now - 7200, now - 60, false, None),
        ("t-swept", now - 7200, now - 120, true, Some("expired")),
    ];
    for (id, issued, expires, black, reason) in rows {
        sqlx::query(
            "INSERT INTO tokens (token_id, user_id, token_sha256, issued_at, expires_at, \
             blacklist, blacklist_reason) VALUES ($1, 1, 'x', $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(issued)
        .bind(expires)
        .bind(i64::from(black))
        .bind(reason)
        .execute(db)
        .await
        .unwrap();
    }
    let (device, _, client) = app.enrolled_device(&admin, "tok-kind").await;
    let device_tok = device_token(&app, &client).await;

    let ids = |q: String| {
        let app = &app;
        let admin = admin.clone();
        async move { follow(app, &admin, &format!("/api/v1/tokens?{q}")).await.0 }
    };
    let device_only = ids("kind=device".into()).await;
    assert_eq!(device_only, [device_tok.token_id.clone()]);
    let users = ids("kind=user".into()).await;
    assert!(!users.contains(&device_tok.token_id));
    assert_eq!(
        ids(format!("device_id={}&kind=user", device.id)).await,
        Vec::<String>::new()
    );
    let mut revoked = ids("state=revoked".into()).await;
    revoked.sort();
    assert_eq!(revoked, ["t-logout", "t-revoked"]);
    let mut expired = ids("state=expired".into()).await;
    expired.sort();
    assert_eq!(
        expired,
        ["t-past", "t-swept"],
        "the sweeper's mark is expiry"
    );
    let active = ids("state=active&kind=user".into()).await;
    for t in ["t-active-a", "t-active-b", "t-active-c"] {
        assert!(active.contains(&t.to_owned()), "{t} in {active:?}");
    }
    assert!(!active.iter().any(|t| t == "t-past" || t == "t-revoked"));

    // Two at a time, every token once, newest first, the filter and the
    // total kept on every page.
    let (all, _) = follow(&app, &admin, "/api/v1/tokens?kind=user").await;
    let (paged, totals) = follow(&app, &admin, "/api/v1/tokens?kind=user&limit=2").await;
    assert_eq!(paged, all);
    assert_eq!(totals.len(), all.len().div_ceil(2), "{totals:?}");
    assert!(totals.iter().all(|t| *t == all.len() as i64), "{totals:?}");
    let res = app.get("/api/v1/tokens?kind=user&limit=2", &admin).await;
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("kind=user") && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let (last, _) = follow(&app, &admin, "/api/v1/tokens?state=expired&limit=1").await;
    assert_eq!(last, ["t-past", "t-swept"]);

    for bad in [
        "kind=robot",
        "state=dead",
        "cursor=yesterday",
        "cursor=12.a%20b",
        "cursor=.t-active-a",
    ] {
        let res = app.get(&format!("/api/v1/tokens?{bad}"), &admin).await;
        assert_eq!(
            error_code(res).await,
            (400, ErrorCode::ValidationFailed),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn tokens_are_found_by_their_owners_name_and_show_it() {
    use crate::device_helpers::*;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (lee, _) = app.user_with_role(&admin, "Lee_Ops", Role::Viewer).await;
    app.user_with_role(&admin, "kim", Role::Viewer).await;
    let (device, _, client) = app.enrolled_device(&admin, "boiler-owner-7").await;
    let device_tok = device_token(&app, &client).await;

    let list = |q: &str| {
        let (app, admin, q) = (&app, admin.clone(), q.to_owned());
        async move {
            let res = app.get(&format!("/api/v1/tokens?{q}"), &admin).await;
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Vec<TokenInfo>>().await.unwrap()
        }
    };
    // Part of the username, in another case: lee's token only, named.
    let found = list("owner=lee_o").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].user_id, Some(lee));
    assert_eq!(found[0].owner_name.as_deref(), Some("Lee_Ops"));
    // The device by its registration id and by its name.
    for q in ["owner=OWNER-7", "owner=test%20dev&kind=device"] {
        let found = list(q).await;
        assert_eq!(found.len(), 1, "{q}: {found:?}");
        assert_eq!(found[0].token_id, device_tok.token_id);
        assert_eq!(found[0].device_id, Some(device.id));
        assert_eq!(found[0].owner_name.as_deref(), Some("test device"));
    }
    // The filter keeps the others: lee's name as a device, nobody's name.
    assert!(list("owner=lee&kind=device").await.is_empty());
    assert!(list("owner=nobody-here").await.is_empty());
    // LIKE's wildcards are taken literally: `_` is not "any character",
    // `%` is not "anything".
    assert!(list("owner=Lee%5Fo").await.len() == 1);
    assert!(list("owner=Le_%5FOps").await.is_empty());
    assert!(list("owner=%25").await.is_empty());
    // Every token has an owner's name while the owner exists; the admin's too.
    let all = list("limit=1000").await;
    assert!(all.iter().all(|t| t.owner_name.is_some()), "{all:?}");
    assert!(all.iter().any(|t| t.owner_name.as_deref() == Some("kim")));

    let res = app
        .get(&format!("/api/v1/tokens?owner={}", "x".repeat(201)), &admin)
        .await;
    assert_eq!(error_code(res).await, (400, ErrorCode::ValidationFailed));
    assert_eq!(list(&format!("owner={}", "x".repeat(200))).await.len(), 0);
}
