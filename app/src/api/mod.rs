//! The browser's client of the public API (gloo-net): `login`, and the
//! authorized `Api` held in context for everything else. The token travels
//! in `x-access-token`, never in the URL.

use leptos::prelude::{expect_context, provide_context};
use serde::{de::DeserializeOwned, Serialize};

use crate::session::Auth;

use crate::types::{
    AuditEvent, ChangePassword, Command, CreateUser, Device, DeviceFilter, DeviceSort,
    EnrollRequest, EnrollResponse, EnrollmentGroup, ErrorCode, FleetSummary, LoginRequest,
    LoginResponse, NewCommand, NewEnrollmentGroup, Reading, ReadingsAggregate, ResetPassword,
    RevokeGroup, SecurityOverview, SigningKey, SortOrder, TokenKind, TokenState, UpdateUser,
    UserInfo, VerifyGroup,
};

/// An answer that was not a success, in the contract's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// 0 when Vigil could not be reached.
    pub status: u16,
    /// The contract's code; `None` for a network failure or an answer that
    /// was not the contract's error shape.
    pub code: Option<ErrorCode>,
    pub message: String,
    /// Seconds, from `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiFailure {
    #[cfg_attr(not(feature = "browser"), allow(dead_code))]
    fn network(e: impl std::fmt::Display) -> Self {
        ApiFailure {
            status: 0,
            code: None,
            message: format!("Vigil could not be reached ({e})."),
            retry_after: None,
        }
    }
}

/// Prefix of every API path: empty when the dashboard is served by Vigil
/// itself; set at build time for a dashboard served elsewhere (Trunk).
pub fn base_url() -> &'static str {
    option_env!("VIGIL_API_BASE").unwrap_or("")
}

/// Signing in is the one call without a token.
pub async fn login(username: &str, password: &str) -> Result<LoginResponse, ApiFailure> {
    let body = LoginRequest {
        username: username.into(),
        password: password.into(),
    };
    http::send_json("POST", "/api/v1/auth/login", None, Some(&body)).await
}

/// Displays the message, so that an `ErrorBoundary` can show it.
impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// The authorized client every page takes from context (`use_api`): it
/// sends the session's token with each call, and ends the session (with a
/// message for the login page) when Vigil says the token no longer holds.
#[derive(Clone, Copy)]
pub struct Api {
    auth: Auth,
}

pub fn provide_api(auth: Auth) {
    provide_context(Api { auth });
}

pub fn use_api() -> Api {
    expect_context::<Api>()
}

/// Filters of the token registry's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub kind: Option<TokenKind>,
    pub state: Option<TokenState>,
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    /// Text the owner's name holds: username, device name or registration id.
    pub owner: String,
    pub limit: u32,
}

impl TokenFilter {
    /// The first page's path.
    pub fn path(&self) -> String {
        let q = query(&[
            ("kind", self.kind.map(|k| k.as_str().to_owned())),
            ("state", self.state.map(|s| s.as_str().to_owned())),
            ("user_id", self.user_id.map(|u| u.to_string())),
            ("device_id", self.device_id.map(|d| d.to_string())),
            (
                "owner",
                Some(self.owner.trim())
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned),
            ),
            ("limit", Some(self.limit.to_string())),
        ]);
        format!("/api/v1/tokens{q}")
    }
}

/// Filters of the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub event: Option<AuditEvent>,
    pub search: String,
    pub limit: u32,
}

impl AuditFilter {
    /// The first page's path.
    pub fn path(&self) -> String {
        let search = self.search.trim();
        let q = query(&[
            ("event", self.event.map(|e| e.as_str().to_owned())),
            ("q", (!search.is_empty()).then(|| search.to_owned())),
            ("limit", Some(self.limit.to_string())),
        ]);
        format!("/api/v1/audit{q}")
    }
}

/// One page of a list, and what its answer said of the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The path of the next page, while more remain.
    pub next: Option<String>,
    /// Everything the list's filters match, on every page.
    pub total: Option<i64>,
}

/// The devices list's filters and order (`GET /api/v1/devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceQuery {
    pub search: String,
    pub status: Option<DeviceFilter>,
    /// Seconds that count as online.
    pub within: u32,
    pub sort: DeviceSort,
    pub order: SortOrder,
    pub limit: u32,
}

impl DeviceQuery {
    /// The first page's path.
    pub fn path(&self) -> String {
        let search = self.search.trim();
        let q = query(&[
            ("q", (!search.is_empty()).then(|| search.to_owned())),
            ("status", self.status.map(|s| s.as_str().to_owned())),
            ("within", self.status.map(|_| self.within.to_string())),
            ("sort", Some(self.sort.as_str().to_owned())),
            ("order", Some(self.order.as_str().to_owned())),
            ("limit", Some(self.limit.to_string())),
        ]);
        format!("/api/v1/devices{q}")
    }
}

/// `?a=1&b=x` from the pairs whose value is present.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let present: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
        .collect();
    match serde_urlencoded::to_string(&present) {
        Ok(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

impl Api {
    fn token(&self) -> Result<String, ApiFailure> {
        self.auth.token().ok_or_else(|| ApiFailure {
            status: 401,
            code: Some(ErrorCode::TokenMissing),
            message: "You are signed out.".into(),
            retry_after: None,
        })
    }

    /// A failure that means the session is over ends it.
    fn checked<T>(&self, r: Result<T, ApiFailure>) -> Result<T, ApiFailure> {
        r.map_err(|f| {
            let message = self.auth.handle(&f);
            ApiFailure { message, ..f }
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiFailure> {
        let token = self.token()?;
        self.checked(http::send_json::<(), _>("GET", path, Some(&token), None).await)
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &B,
    ) -> Result<T, ApiFailure> {
        let token = self.token()?;
        self.checked(http::send_json(method, path, Some(&token), Some(body)).await)
    }

    async fn empty(&self, method: &str, path: &str) -> Result<(), ApiFailure> {
        let token = self.token()?;
        self.checked(http::send_empty(method, path, Some(&token)).await)
    }

    pub async fn me(&self) -> Result<UserInfo, ApiFailure> {
        self.get("/api/v1/auth/me").await
    }

    /// One page of a list: its first (from a query) or one a `Link` named.
    pub async fn page<T: DeserializeOwned>(&self, path: &str) -> Result<Page<T>, ApiFailure> {
        let token = self.token()?;
        self.checked(http::get_paged(path, &token).await)
    }

    pub async fn device(&self, id: i64) -> Result<Device, ApiFailure> {
        self.get(&format!("/api/v1/devices/{id}")).await
    }

    /// The first page of a device's readings from `from` to `to` (RFC
    /// 3339), newest first; later pages by their `Link`.
    pub fn readings_path(
        id: i64,
        (from, to): (Option<String>, Option<String>),
        limit: u32,
    ) -> String {
        let q = query(&[
            ("limit", Some(limit.to_string())),
            ("from", from),
            ("to", to),
        ]);
        format!("/api/v1/devices/{id}/readings{q}")
    }

    /// The newest `limit` readings of a device from `from` to `to`.
    pub async fn readings(
        &self,
        id: i64,
        from: Option<String>,
        to: Option<String>,
        limit: u32,
    ) -> Result<Vec<Reading>, ApiFailure> {
        let path = Api::readings_path(id, (from, to), limit);
        Ok(self.page::<Reading>(&path).await?.items)
    }

    /// A device's readings from `from` to `to` as CSV, oldest first.
    pub async fn readings_csv(
        &self,
        id: i64,
        (from, to): (Option<String>, Option<String>),
    ) -> Result<Vec<u8>, ApiFailure> {
        let token = self.token()?;
        let q = query(&[("from", from), ("to", to)]);
        let path = format!("/api/v1/devices/{id}/readings.csv{q}");
        self.checked(http::get_bytes(&path, &token).await)
    }

    /// The device's readings from `from` to `to` (RFC 3339), summed up in
    /// `buckets` buckets per sensor by the server.
    pub async fn readings_aggregate(
        &self,
        id: i64,
        (from, to): (Option<String>, Option<String>),
        buckets: u32,
    ) -> Result<ReadingsAggregate, ApiFailure> {
        let q = query(&[
            ("from", from),
            ("to", to),
            ("buckets", Some(buckets.to_string())),
        ]);
        self.get(&format!("/api/v1/devices/{id}/readings/aggregate{q}"))
            .await
    }

    /// The device's commands, newest first.
    pub async fn commands(&self, device_id: i64) -> Result<Vec<Command>, ApiFailure> {
        self.get(&format!("/api/v1/devices/{device_id}/commands?limit=50"))
            .await
    }

    pub async fn send_command(
        &self,
        device_id: i64,
        body: &NewCommand,
    ) -> Result<Command, ApiFailure> {
        self.send(
            "POST",
            &format!("/api/v1/devices/{device_id}/commands"),
            body,
        )
        .await
    }

    pub async fn cancel_command(&self, id: i64) -> Result<(), ApiFailure> {
        self.empty("POST", &format!("/api/v1/commands/{id}/cancel"))
            .await
    }

    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ApiFailure> {
        self.send("POST", "/api/v1/devices", req).await
    }

    pub async fn revoke_device(&self, id: i64) -> Result<(), ApiFailure> {
        self.empty("POST", &format!("/api/v1/devices/{id}/revoke"))
            .await
    }

    pub async fn revoke_device_tokens(&self, id: i64) -> Result<(), ApiFailure> {
        self.empty("POST", &format!("/api/v1/devices/{id}/revoke-tokens"))
            .await
    }

    pub async fn change_password(&self, body: &ChangePassword) -> Result<(), ApiFailure> {
        let token = self.token()?;
        // A wrong current password (401 invalid_credentials) does not end
        // the session; a revoked token does.
        self.checked(http::send_json_empty("POST", "/api/v1/auth/password", &token, body).await)
    }

    pub async fn reset_password(&self, id: i64, body: &ResetPassword) -> Result<(), ApiFailure> {
        let token = self.token()?;
        let path = format!("/api/v1/users/{id}/password");
        self.checked(http::send_json_empty("POST", &path, &token, body).await)
    }

    pub async fn users(&self) -> Result<Vec<UserInfo>, ApiFailure> {
        self.get("/api/v1/users").await
    }

    pub async fn create_user(&self, body: &CreateUser) -> Result<UserInfo, ApiFailure> {
        self.send("POST", "/api/v1/users", body).await
    }

    pub async fn delete_user(&self, id: i64) -> Result<(), ApiFailure> {
        self.empty("DELETE", &format!("/api/v1/users/{id}")).await
    }

    pub async fn set_role(&self, id: i64, body: &UpdateUser) -> Result<UserInfo, ApiFailure> {
        self.send("PATCH", &format!("/api/v1/users/{id}"), body)
            .await
    }

    pub async fn revoke_token(&self, token_id: &str) -> Result<(), ApiFailure> {
        let path = format!("/api/v1/tokens/{token_id}/revoke");
        self.empty("POST", &path).await
    }

    pub async fn groups(&self) -> Result<Vec<EnrollmentGroup>, ApiFailure> {
        self.get("/api/v1/enrollment-groups").await
    }

    pub async fn create_group(
        &self,
        body: &NewEnrollmentGroup,
    ) -> Result<EnrollmentGroup, ApiFailure> {
        self.send("POST", "/api/v1/enrollment-groups", body).await
    }

    pub async fn verify_group(
        &self,
        id: i64,
        body: &VerifyGroup,
    ) -> Result<EnrollmentGroup, ApiFailure> {
        self.send(
            "POST",
            &format!("/api/v1/enrollment-groups/{id}/verify"),
            body,
        )
        .await
    }

    pub async fn revoke_group(&self, id: i64, with_devices: bool) -> Result<(), ApiFailure> {
        let token = self.token()?;
        let path = format!("/api/v1/enrollment-groups/{id}/revoke");
        let body = RevokeGroup {
            devices: with_devices,
        };
        self.checked(http::send_json_empty("POST", &path, &token, &body).await)
    }

    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>, ApiFailure> {
        self.get("/api/v1/keys").await
    }

    pub async fn rotate_key(&self) -> Result<SigningKey, ApiFailure> {
        self.send("POST", "/api/v1/keys/rotate", &()).await
    }

    /// The fleet at a glance; `online_within` in seconds.
    pub async fn summary(&self, online_within: u32) -> Result<FleetSummary, ApiFailure> {
        self.get(&format!("/api/v1/summary?online_within={online_within}"))
            .await
    }

    pub async fn security_overview(&self) -> Result<SecurityOverview, ApiFailure> {
        self.get("/api/v1/security/overview").await
    }

    /// Revokes the session's token; the caller forgets it either way.
    pub async fn logout(&self) -> Result<(), ApiFailure> {
        let token = self.token()?;
        http::send_empty("POST", "/api/v1/auth/logout", Some(&token)).await
    }
}

/// The target of `rel="next"` in a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\"") || p.trim() == "rel=next");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        assert_eq!(
            next_link("</api/v1/devices?limit=2&after=7>; rel=\"next\"").as_deref(),
            Some("/api/v1/devices?limit=2&after=7")
        );
        assert_eq!(
            next_link("</a>; rel=\"prev\", </b>; rel=\"next\"").as_deref(),
            Some("/b")
        );
        assert_eq!(next_link("</a>; rel=\"prev\""), None);
    }
}

mod http;
