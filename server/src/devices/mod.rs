//! Devices: enrollment (a self-signed certificate's thumbprint, or a CSR the
//! device CA signs), the registry and its in-memory index, and revocation.

pub mod certs;
pub mod index;
pub mod last_seen;
pub mod routes;
pub mod store;

use crate::error::ApiError;

/// 1–128 characters of letters, digits and `._:-` (Azure DPS-like).
pub fn parse_registration_id(s: &str) -> Result<&str, ApiError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    ok.then_some(s).ok_or_else(|| {
        ApiError::validation(
            "registration_id must be 1-128 characters of letters, digits and . _ : -",
        )
    })
}

/// 1–128 characters, no control characters.
pub fn parse_name(s: &str) -> Result<&str, ApiError> {
    let ok = !s.trim().is_empty() && s.chars().count() <= 128 && !s.chars().any(char::is_control);
    ok.then_some(s)
        .ok_or_else(|| ApiError::validation("name must be 1-128 printable characters"))
}
