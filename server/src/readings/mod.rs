//! Stored readings: `GET /api/v1/devices/{id}/readings`, newest first, with
//! sensor and time-range filters and a bounded page.

mod routes;
mod store;

pub use routes::router;

/// A sensor's name: 1–64 characters of letters, digits and `_ . : - /`.
pub fn valid_sensor(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-/".contains(c))
}

/// A reading ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub device_id: i64,
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    /// Milliseconds since the epoch.
    pub ts: i64,
}
