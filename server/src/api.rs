//! The two JSON APIs, assembled from the capabilities' routers, and their
//! OpenAPI description: the north API under `/api` (the gateway in front of
//! every protected route) and the device API on the south listener (every
//! request from an enrolled, active device).

use axum::{
    body::Bytes,
    extract::DefaultBodyLimit,
    http::{header, HeaderValue},
    routing::get,
    Router,
};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    audit, auth, commands, devices,
    error::ApiError,
    ingest, live,
    openapi::ApiDoc,
    readings,
    state::AppState,
    telemetry::{self, Traced},
    tokens, users,
};

/// Bodies of the north API are small; anything bigger is refused unread.
pub const MAX_BODY: usize = 64 * 1024;

/// Both routers, ready to serve.
pub struct Apis {
    /// To nest under `/api` on the north listener.
    pub north: Router<AppState>,
    /// The south listener's whole service.
    pub south: Traced<Router>,
}

pub fn build(state: &AppState) -> Apis {
    let (north, north_doc) = north(state).split_for_parts();
    let (south, south_doc) = south(state).split_for_parts();
    let doc = ApiDoc::openapi()
        .nest("/api", north_doc)
        .merge_from(south_doc);
    // Served as the bytes serialized here: the document's structs (2 MB
    // of heap) are dropped, and each request clones a reference to the
    // bytes instead of the whole document.
    let doc = Bytes::from(serde_json::to_vec(&doc).expect("the OpenAPI document serializes"));
    let north = north
        .route(
            "/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc) }
            }),
        )
        .fallback(|| async { ApiError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(no_store());
    let south = south
        .fallback(|| async { ApiError::NotFound("no such device API route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(no_store())
        .layer(axum::middleware::from_fn_with_state(
            "devices",
            crate::metrics::count_requests,
        ));
    Apis {
        north,
        south: telemetry::traced(south.with_state(state.clone())),
    }
}

fn north(state: &AppState) -> OpenApiRouter<AppState> {
    let protected = OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(tokens::routes::router())
        .merge(tokens::keys_router())
        .merge(crate::overview::router())
        .merge(crate::summary::router())
        .merge(audit::router())
        .merge(devices::router())
        .merge(readings::router())
        .merge(live::router())
        .merge(commands::router())
        .route_layer(auth::gateway::GatewayLayer::new(state.tokens.clone()));
    OpenApiRouter::new()
        .merge(auth::public_router())
        .merge(protected)
}

fn south(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(devices::south_router())
        .merge(ingest::router())
        .merge(commands::south_router())
        .route_layer(devices::DeviceLayer::new(
            state.devices.clone(),
            state.tokens.clone(),
            state.clock.clone(),
        ))
}

/// Answers carry tokens and private data: no cache may keep them.
fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}
