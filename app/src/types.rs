//! Types of the public API, shared by the server and the browser.

use serde::{Deserialize, Serialize};

/// Every error answer: `{"error": "<code>", "message": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub token_id: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateUser {
    pub role: Role,
}

/// One entry of the token registry; never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub token_id: String,
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    pub issued_at: String,
    pub expires_at: String,
    pub blacklist: bool,
    pub blacklist_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub ts: String,
    pub event: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: i64,
    pub registration_id: String,
    pub name: String,
    /// `active` or `revoked`.
    pub status: String,
    /// Hex SHA-256 of the device certificate's DER.
    pub cert_sha256: String,
    /// `self_signed` or `ca_issued`.
    pub enrollment: String,
    pub created_at: String,
    pub last_seen: Option<String>,
    /// The newest reading of each sensor.
    #[serde(default)]
    pub latest: Vec<Reading>,
}

/// Enrollment: exactly one of `cert_sha256` (self-signed certificate) or
/// `csr_pem` (the device CA signs a certificate).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub registration_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device: Device,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceToken {
    pub token: String,
    pub token_id: String,
    pub expires_at: String,
}

/// One reading as a device sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingIn {
    pub sensor: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// RFC 3339; the arrival time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingsBatch {
    pub readings: Vec<ReadingIn>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub accepted: usize,
}

/// One stored reading as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    pub ts: String,
}

/// A reading as the live stream delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveReading {
    pub device_id: i64,
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    pub ts: String,
}
