//! The dashboard (Leptos SSR + hydration), `/healthz`, `/readyz`, and the security
//! headers put on every north response (around the whole router, once).

use app::{shell, App};
use axum::{
    extract::State,
    http::{header, HeaderName, HeaderValue, StatusCode},
    routing::get,
    Json, Router,
};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::Layer;
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

use crate::{
    state::AppState,
    telemetry::{self, Traced},
};

pub type Secured<S> = SetResponseHeader<
    SetResponseHeader<
        SetResponseHeader<SetResponseHeader<S, HeaderValue>, HeaderValue>,
        HeaderValue,
    >,
    HeaderValue,
>;

/// The north listener's whole service.
pub fn service(state: AppState, api: Router<AppState>) -> Traced<Secured<Router>> {
    telemetry::traced(secured(router(state, api)))
}

fn router(state: AppState, api: Router<AppState>) -> Router {
    let routes = generate_route_list(App);
    let leptos_options = state.leptos.clone();
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .route("/pki/device-ca.crl", get(device_ca_crl))
        .route("/.well-known/jwks.json", get(jwks))
        .nest("/api", api)
        .leptos_routes(&state, routes, move || shell(leptos_options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(cache_policy))
        .layer(axum::middleware::from_fn_with_state(
            state.assets.clone(),
            crate::assets::serve,
        ))
        .layer(compression())
        .layer(axum::middleware::from_fn_with_state(
            "north",
            crate::metrics::count_requests,
        ))
        .with_state(state)
}

/// Pages and the dashboard's files (wasm, JavaScript, CSS) go out gzipped
/// when the browser takes gzip; the API's JSON, the live stream and
/// anything under 1 KiB do not (their cost per request is better spent
/// elsewhere, and a stream must not wait on a compressor). Brotli is left
/// out here: compressing a multi-megabyte wasm file anew on each request
/// took it over a second even at level 4. The hashed files are compressed
/// once, Brotli included (`assets`); this layer leaves what is already
/// compressed alone.
fn compression(
) -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::{
        predicate::{NotForContentType, Predicate, SizeAbove},
        CompressionLayer,
    };
    let when = SizeAbove::new(1024)
        .and(NotForContentType::const_new("application/json"))
        .and(NotForContentType::const_new("text/event-stream"))
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES);
    // Level 4: fast, and within a few per cent of gzip's best on wasm.
    CompressionLayer::new()
        .gzip(true)
        .quality(tower_http::CompressionLevel::Precise(4))
        .compress_when(when)
}

/// Pages are never kept (each carries its own CSP nonce and session
/// state). The dashboard's files under their plain names keep them from
/// one build to the next, so a browser may keep them but must ask whether
/// they changed (an answer with no body when they did not); under their
/// hashed names (`assets`) they are kept a year.
async fn cache_policy(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let asset = req.uri().path().starts_with("/pkg/");
    let mut res = next.run(req).await;
    if res.headers().contains_key(header::CACHE_CONTROL) {
        return res;
    }
    let page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let policy = match (asset, page) {
        (true, _) => "no-cache",
        (false, true) => "no-store",
        (false, false) => return res,
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    res
}

/// Readiness: 200 when the database answers within 2 s, 503 otherwise
/// (`/healthz` says only that the process is alive).
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    if crate::db::answers(&state.db, std::time::Duration::from_secs(2)).await {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable" })),
        )
    }
}

/// The device CA's CRL (DER, `application/pkix-crl`), for anyone: it names
/// only certificate serials, and relying parties fetch it without a token.
async fn device_ca_crl(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.devices.crl().await {
        Ok(der) => (
            [
                (header::CONTENT_TYPE, "application/pkix-crl"),
                // Issued anew on every request: never kept by a cache.
                (header::CACHE_CONTROL, "no-store"),
            ],
            der,
        )
            .into_response(),
        Err(e) => crate::error::ApiError::Internal(e.context("issuing the device CA's CRL"))
            .into_response(),
    }
}

/// The public keys that verify Vigil's tokens (RFC 7517), for anyone.
/// Kept by caches a minute at most: a verifier that meets an unknown `kid`
/// after a rotation fetches again.
async fn jwks(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(serde_json::json!({ "keys": state.tokens.jwks() })),
    )
        .into_response()
}

fn secured<S>(inner: S) -> Secured<S> {
    let inner = header_layer(header::X_FRAME_OPTIONS, "DENY").layer(inner);
    let inner = header_layer(header::REFERRER_POLICY, "no-referrer").layer(inner);
    let inner = header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff").layer(inner);
    header_layer(
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=63072000; includeSubDomains",
    )
    .layer(inner)
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}
