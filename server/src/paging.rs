//! A page of a list as an answer: the JSON array, `Link: <…>;
//! rel="next"` while more remain, and `x-total-count` for every page.

use app::types::TOTAL_COUNT_HEADER;
use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

/// `next` is the next page's path and query.
pub fn paged<T: Serialize>(items: Vec<T>, next: Option<String>, total: i64) -> Response {
    let mut res = with_next(items, next);
    res.headers_mut()
        .insert(TOTAL_COUNT_HEADER, HeaderValue::from(total));
    res
}

/// A page without a total (a list too long to count on every page).
pub fn with_next<T: Serialize>(items: Vec<T>, next: Option<String>) -> Response {
    let mut res = Json(items).into_response();
    let link = next.and_then(|n| HeaderValue::from_str(&format!("<{n}>; rel=\"next\"")).ok());
    if let Some(link) = link {
        res.headers_mut().insert(header::LINK, link);
    }
    res
}

/// `path?query` with the query serialized from `q`.
pub fn with_query(path: &str, q: &impl Serialize) -> String {
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}
