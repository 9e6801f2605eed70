//! Bad input answers in the contract's JSON shape, never a 500.

use app::types::ErrorCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn malformed_json_wrong_type_and_missing_fields_are_validation_errors() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/login");
    let raw = |body: &'static str, ct: &'static str| {
        app.client
            .post(url.clone())
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        error_code(raw("{not json", "application/json").await.unwrap()).await,
        (400, ErrorCode::ValidationFailed)
    );
    assert_eq!(
        error_code(raw("{}", "text/plain").await.unwrap()).await.1,
        ErrorCode::ValidationFailed
    );
    assert_eq!(
        error_code(raw("{\"username\": 1}", "application/json").await.unwrap()).await,
        (422, ErrorCode::ValidationFailed)
    );
}

#[tokio::test]
async fn an_oversized_body_is_payload_too_large() {
    let app = spawn_app().await;
    let big = format!(
        "{{\"username\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(100 * 1024)
    );
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (413, ErrorCode::PayloadTooLarge));
}

#[tokio::test]
async fn unknown_api_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (404, ErrorCode::NotFound));
    let res = app
        .client
        .get(app.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (405, ErrorCode::MethodNotAllowed));
    let admin = app.admin_token().await;
    assert_eq!(
        error_code(app.delete("/api/v1/users/abc", &admin).await).await,
        (400, ErrorCode::ValidationFailed)
    );
}

#[tokio::test]
async fn health_and_security_headers() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert!(h["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let api = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_login_page_is_rendered_by_the_server() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign in to Vigil"));
    assert!(html.contains("<label for=\"username\""));
    assert!(html.contains("/pkg/vigil"), "hydration scripts are linked");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a script nonce");
    assert!(nonce.len() >= 16);
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the page's scripts carry the nonce"
    );
    assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_ne!(res_csp(&app, "/login").await, csp, "a fresh nonce per page");
}

#[test]
fn help_lists_every_setting_with_its_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "VIGIL_HTTPS_ADDR",
        "VIGIL_DEVICE_ADDR",
        "VIGIL_DATA_DIR",
        "VIGIL_DATABASE_URL",
        "VIGIL_ADMIN_USER",
        "VIGIL_ADMIN_PASSWORD",
        "VIGIL_TLS_CERT",
        "VIGIL_TLS_KEY",
        "VIGIL_TOKEN_TTL",
        "VIGIL_DEVICE_TOKEN_TTL",
        "VIGIL_HEADER_TIMEOUT",
        "VIGIL_IDLE_TIMEOUT",
        "VIGIL_MAX_CONNECTIONS_PER_IP",
        "VIGIL_DEVICE_MAX_CONNECTIONS_PER_IP",
        "VIGIL_MAX_STREAMS_PER_USER",
        "VIGIL_DEVICE_MAX_SENSORS",
        "VIGIL_DEVICE_TOKENS_PER_HOUR",
        "VIGIL_DEVICE_MAX_READINGS_PER_S",
        "VIGIL_AUDIT_RETENTION",
        "VIGIL_TLS_NAMES",
    ] {
        assert!(help.contains(var), "{var} in --help");
    }
}

async fn res_csp(app: &TestApp, path: &str) -> String {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_answer_carries_a_request_id_of_ours() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for path in ["/healthz", "/api/v1/auth/me", "/api/v1/nowhere"] {
        let res = app
            .client
            .get(app.url(path))
            .header("x-request-id", "client-chosen")
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 32, "{path}: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{path}: {id}");
        assert!(seen.insert(id), "a fresh id per request");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_both_apis() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/devices/{id}/readings",
        "/api/v1/tokens/{token_id}/revoke",
        "/device/v1/token",
        "/device/v1/readings",
        "/device/v1/register",
        "/api/v1/enrollment-groups/{id}/verify",
    ] {
        assert!(paths.contains_key(path), "{path} is described");
    }
    // Every protected operation says how the token travels and that it can
    // be refused.
    let me = &paths["/api/v1/auth/me"]["get"];
    assert!(me["security"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(me["responses"]["401"].is_object());
    // Every reference names a schema the document holds (a fuzzer skips
    // what it cannot resolve, and a client generator fails on it).
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20, "{all:?}");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").expect(r);
        assert!(schemas.contains_key(name), "{r} is not in the document");
    }
    // The list filters among them.
    let param = |path: &str, name: &str| {
        paths[path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} {name}"))
            .clone()
    };
    for (path, name, schema, value) in [
        ("/api/v1/devices", "sort", "DeviceSort", "last_seen"),
        ("/api/v1/devices", "status", "DeviceFilter", "offline"),
        ("/api/v1/devices", "order", "SortOrder", "desc"),
        ("/api/v1/tokens", "kind", "TokenKind", "device"),
        ("/api/v1/tokens", "state", "TokenState", "expired"),
    ] {
        let p = param(path, name).to_string();
        assert!(p.contains(&format!("#/components/schemas/{schema}")), "{p}");
        let s = schemas[schema].to_string();
        assert!(s.contains(&format!("\"{value}\"")), "{schema}: {s}");
    }
}

#[tokio::test]
async fn pages_and_dashboard_files_are_compressed_and_the_api_is_not() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    // 64 KiB of something compressible, as a wasm file is.
    let wasm: Vec<u8> = (0..65_536u32).map(|i| (i % 7) as u8).collect();
    std::fs::write(site.path().join("pkg/vigil.wasm"), &wasm).unwrap();
    let root = site.path().to_path_buf();
    let app = spawn_with(move |s| s.site_root = root).await;
    let get = |path: &str, encoding: Option<&str>| {
        let mut req = app.client.get(app.url(path));
        if let Some(e) = encoding {
            req = req.header("accept-encoding", e);
        }
        req.send()
    };
    for (encoding, expected) in [("gzip", "gzip"), ("br, gzip", "gzip")] {
        let res = get("/pkg/vigil.wasm", Some(encoding)).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-encoding"], expected);
        assert_eq!(res.headers()["cache-control"], "no-cache");
        let body = res.bytes().await.unwrap();
        assert!(body.len() < wasm.len() / 10, "{} bytes", body.len());
    }
    // A client that asks for nothing gets the file as it is.
    let res = get("/pkg/vigil.wasm", None).await.unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.bytes().await.unwrap().to_vec(), wasm);
    // Server-rendered pages too.
    let res = get("/login", Some("gzip")).await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    // Not the API's JSON, however large (the OpenAPI document).
    let res = get("/api/v1/openapi.json", Some("br, gzip")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-encoding").is_none());
    assert!(res.bytes().await.unwrap().len() > 10_000);
}

#[tokio::test]
async fn the_dashboards_files_go_out_under_hashed_names_compressed_once_and_kept_a_year() {
    use std::io::Read;
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    let file = |seed: u32| -> Vec<u8> { (0..65_536u32).map(|i| ((i + seed) % 13) as u8).collect() };
    let (js, wasm, css) = (file(1), file(2), file(3));
    for (name, bytes) in [
        ("vigil.js", &js),
        ("vigil.wasm", &wasm),
        ("vigil.css", &css),
    ] {
        std::fs::write(site.path().join("pkg").join(name), bytes).unwrap();
    }
    let root = site.path().to_path_buf();
    let app = spawn_with(move |s| s.site_root = root).await;
    let assets = app
        .app
        .state()
        .assets
        .clone()
        .expect("the build's files are found");
    let name = assets.name.clone();
    assert!(
        name.strip_prefix("vigil.")
            .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit())),
        "{name}"
    );

    // The page links the hashed names, and is never kept.
    let res = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    for ext in ["js", "wasm", "css"] {
        assert!(
            html.contains(&format!("/pkg/{name}/vigil.{ext}")),
            "{ext} linked: {html}"
        );
    }
    // The API's answers are never kept either.
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");

    let started = std::time::Instant::now();
    while !assets.compressed() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "compressed in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let get = |path: String, encoding: &'static str| {
        let mut req = app.client.get(app.url(&path));
        if !encoding.is_empty() {
            req = req.header("accept-encoding", encoding);
        }
        req.send()
    };
    for (ext, original, kind) in [
        ("js", &js, "text/javascript"),
        ("wasm", &wasm, "application/wasm"),
        ("css", &css, "text/css"),
    ] {
        let path = format!("/pkg/{name}/vigil.{ext}");
        for (accept, expected) in [
            ("gzip, deflate, br", Some("br")),
            ("gzip", Some("gzip")),
            ("br;q=0", None),
            ("", None),
        ] {
            let res = get(path.clone(), accept).await.unwrap();
            assert_eq!(res.status(), 200, "{path} {accept}");
            let h = res.headers().clone();
            assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
            assert_eq!(h["content-type"], kind);
            assert_eq!(h["vary"], "accept-encoding");
            assert_eq!(
                h.get("content-encoding").map(|v| v.to_str().unwrap()),
                expected,
                "{path} {accept}"
            );
            let body = res.bytes().await.unwrap();
            let mut plain = Vec::new();
            match expected {
                Some("br") => {
                    brotli::BrotliDecompress(&mut &body[..], &mut plain).unwrap();
                }
                Some(_) => {
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                }
                None => plain = body.to_vec(),
            }
            assert_eq!(&plain, original, "{path} {accept}");
            if expected.is_some() {
                assert!(
                    body.len() < original.len() / 10,
                    "{path}: {} bytes",
                    body.len()
                );
            }
        }
        // HEAD: the size of what GET would send, and no body.
        let res = app
            .client
            .head(app.url(&path))
            .header("accept-encoding", "br")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-encoding"], "br");
        let announced: usize = res.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            announced > 0 && announced < original.len() / 10,
            "{announced}"
        );
        assert!(res.bytes().await.unwrap().is_empty());
        // Asked again with its tag: no body.
        let etag = get(path.clone(), "br").await.unwrap().headers()["etag"].clone();
        let res = app
            .client
            .get(app.url(&path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304);
        assert!(res.bytes().await.unwrap().is_empty());
    }
    // Another build's hash is not this build's file; the plain name is
    // still served, revalidated on every use.
    let res = get("/pkg/vigil.0123456789abcdef/vigil.js".into(), "br")
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = get("/pkg/vigil.js".into(), "").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
}

#[tokio::test]
async fn a_split_builds_loader_and_chunks_are_served_in_the_same_hashed_directory() {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    let file = |seed: u32| -> Vec<u8> { (0..16_384u32).map(|i| ((i + seed) % 11) as u8).collect() };
    let chunk = file(4);
    // The build's JavaScript imports the loader, as a split build's does.
    let mut js = file(1);
    js.extend_from_slice(b"import * from './__wasm_split.______________________.js';");
    for (name, bytes) in [
        ("vigil.js", js),
        ("vigil.wasm", file(2)),
        ("vigil.css", file(3)),
        ("__wasm_split.______________________.js", file(5)),
        ("split_home_1234.wasm", chunk.clone()),
        // Left by an earlier build: not in the manifest, never served.
        ("split_old_9999.wasm", file(6)),
        ("secret.wasm", file(7)),
    ] {
        std::fs::write(pkg.join(name), bytes).unwrap();
    }
    // The manifest as `cargo leptos --split` writes it; a name that is a
    // path is not the build's and is left out.
    std::fs::write(
        pkg.join("__wasm_split_manifest.json"),
        r#"{"home_1234":["split_home_1234"],"admin_5678":["../secret"]}"#,
    )
    .unwrap();
    let root = site.path().to_path_buf();
    let app = spawn_with(move |s| s.site_root = root).await;
    let name = app
        .app
        .state()
        .assets
        .clone()
        .expect("the build's files")
        .name
        .clone();
    let html = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("/pkg/{name}/vigil.js")), "{html}");

    for (path, status) in [
        (format!("/pkg/{name}/split_home_1234.wasm"), 200),
        (
            format!("/pkg/{name}/__wasm_split.______________________.js"),
            200,
        ),
        (format!("/pkg/{name}/split_old_9999.wasm"), 404),
        (format!("/pkg/{name}/secret.wasm"), 404),
        (format!("/pkg/{name}/__wasm_split_manifest.json"), 404),
    ] {
        let res = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        if status == 200 {
            assert_eq!(
                res.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
        }
    }
    let res = app
        .client
        .get(app.url(&format!("/pkg/{name}/split_home_1234.wasm")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/wasm");
    assert_eq!(res.bytes().await.unwrap().to_vec(), chunk);

    // Another chunk is another build: the directory's name changes.
    std::fs::write(pkg.join("split_home_1234.wasm"), file(8)).unwrap();
    let again = vigil::assets::Assets::load(&pkg, "vigil").unwrap();
    assert_ne!(again.name, name);
    // A split build whose manifest does not read, or names a chunk that
    // is not there, is not hashed at all (the pages link the plain names).
    std::fs::write(pkg.join("__wasm_split_manifest.json"), "not json").unwrap();
    assert!(vigil::assets::Assets::load(&pkg, "vigil").is_none());
    std::fs::write(
        pkg.join("__wasm_split_manifest.json"),
        r#"{"home_1234":["split_home_1234","split_gone_1"]}"#,
    )
    .unwrap();
    assert!(vigil::assets::Assets::load(&pkg, "vigil").is_none());

    // A build that does not import the loader (a debug build over a split
    // one) is not split: the old loader and chunks are not its files.
    std::fs::write(pkg.join("vigil.js"), file(1)).unwrap();
    let root = site.path().to_path_buf();
    let app = spawn_with(move |s| s.site_root = root).await;
    let name = app.app.state().assets.clone().unwrap().name.clone();
    for file in [
        "split_home_1234.wasm",
        "__wasm_split.______________________.js",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/pkg/{name}/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{file}");
    }
}
