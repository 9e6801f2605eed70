//! The north JSON API under `/api`: routes, the gateway in front of the
//! protected ones, and extractors whose rejections use the contract's shape.

use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        DefaultBodyLimit, FromRequest, FromRequestParts,
    },
    http::{header, HeaderValue, StatusCode},
    routing::{delete, get, post},
    Router,
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::{
    audit, auth, devices, error::ApiError, live, readings, state::AppState, tokens, users,
};

/// Bodies of the north API are small; anything bigger is refused unread.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router(state: &AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/v1/auth/login", post(auth::routes::login))
        .route("/v1/ping", get(auth::routes::ping));
    let protected = Router::new()
        .route("/v1/auth/logout", post(auth::routes::logout))
        .route("/v1/auth/me", get(auth::routes::me))
        .route("/v1/auth/check", get(auth::routes::check))
        .route(
            "/v1/users",
            get(users::routes::list).post(users::routes::create),
        )
        .route(
            "/v1/users/{id}",
            delete(users::routes::delete).patch(users::routes::update),
        )
        .route("/v1/tokens", get(tokens::routes::list))
        .route("/v1/tokens/{token_id}/revoke", post(tokens::routes::revoke))
        .route("/v1/audit", get(audit::list))
        .route(
            "/v1/devices",
            get(devices::routes::list).post(devices::routes::enroll),
        )
        .route("/v1/devices/{id}", get(devices::routes::show))
        .route("/v1/devices/{id}/revoke", post(devices::routes::revoke))
        .route(
            "/v1/devices/{id}/revoke-tokens",
            post(devices::routes::revoke_tokens),
        )
        .route("/v1/devices/{id}/readings", get(readings::list))
        .route("/v1/live", get(live::stream))
        .route_layer(auth::gateway::GatewayLayer::new(state.clone()));
    Router::new()
        .merge(public)
        .merge(protected)
        .fallback(|| async { ApiError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// JSON body; malformed JSON, a wrong content type or an oversized body
/// answer in the contract's error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::validation(r.body_text()),
            _ => ApiError::bad_request(r.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}
