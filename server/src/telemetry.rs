//! Logging: the subscriber, and the HTTP layers that give every request an
//! id and a span, so a logged error says which request it was. Nothing
//! logged anywhere may contain a token or a password: spans carry the
//! method, the path and the request id, never headers or bodies.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    Router,
};
use tower_http::{
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use tracing_subscriber::EnvFilter;

pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A fresh random id for every request.
#[derive(Clone, Copy)]
struct NewId;

impl MakeRequestId for NewId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Every request gets an id of ours (one a client sent is dropped: it could
/// put anything in our logs), a span naming it, and the id back in the
/// `x-request-id` response header.
pub fn traced<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|r| r.header_value().to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewId))
        .layer(axum::middleware::map_request(|mut req: Request| async move {
            req.headers_mut().remove(REQUEST_ID);
            req
        }))
}
