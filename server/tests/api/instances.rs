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
    assert_eq!(get("/readyz").await, (200, serde_json::json!({"status": "ready"})));
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
