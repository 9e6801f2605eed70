//! The browser's client of the public API (gloo-net). Every call that needs
//! a token sends it in `x-access-token`, never in the URL.

use serde::{de::DeserializeOwned, Serialize};

use crate::types::{
    AuditEntry, CreateUser, Device, EnrollRequest, EnrollResponse, ErrorCode, LoginRequest,
    LoginResponse, Reading, TokenInfo, UpdateUser, UserInfo,
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

pub async fn login(username: &str, password: &str) -> Result<LoginResponse, ApiFailure> {
    let body = LoginRequest {
        username: username.into(),
        password: password.into(),
    };
    http::send_json("POST", "/api/v1/auth/login", None, Some(&body)).await
}

pub async fn me(token: &str) -> Result<UserInfo, ApiFailure> {
    http::send_json::<(), _>("GET", "/api/v1/auth/me", Some(token), None).await
}

pub async fn logout(token: &str) -> Result<(), ApiFailure> {
    http::send_empty("POST", "/api/v1/auth/logout", Some(token)).await
}

pub async fn devices(token: &str) -> Result<Vec<Device>, ApiFailure> {
    http::send_json::<(), _>("GET", "/api/v1/devices", Some(token), None).await
}

pub async fn device(token: &str, id: i64) -> Result<Device, ApiFailure> {
    http::send_json::<(), _>("GET", &format!("/api/v1/devices/{id}"), Some(token), None).await
}

/// `from`/`to` are RFC 3339; newest first.
pub async fn readings(
    token: &str,
    id: i64,
    from: Option<&str>,
    to: Option<&str>,
    limit: u32,
) -> Result<Vec<Reading>, ApiFailure> {
    let mut q = format!("?limit={limit}");
    for (k, v) in [("from", from), ("to", to)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", urlencode(v)));
        }
    }
    http::send_json::<(), _>(
        "GET",
        &format!("/api/v1/devices/{id}/readings{q}"),
        Some(token),
        None,
    )
    .await
}

pub async fn enroll(token: &str, req: &EnrollRequest) -> Result<EnrollResponse, ApiFailure> {
    http::send_json("POST", "/api/v1/devices", Some(token), Some(req)).await
}

pub async fn revoke_device(token: &str, id: i64) -> Result<(), ApiFailure> {
    http::send_empty("POST", &format!("/api/v1/devices/{id}/revoke"), Some(token)).await
}

pub async fn revoke_device_tokens(token: &str, id: i64) -> Result<(), ApiFailure> {
    http::send_empty(
        "POST",
        &format!("/api/v1/devices/{id}/revoke-tokens"),
        Some(token),
    )
    .await
}

pub async fn users(token: &str) -> Result<Vec<UserInfo>, ApiFailure> {
    http::send_json::<(), _>("GET", "/api/v1/users", Some(token), None).await
}

pub async fn create_user(token: &str, body: &CreateUser) -> Result<UserInfo, ApiFailure> {
    http::send_json("POST", "/api/v1/users", Some(token), Some(body)).await
}

pub async fn delete_user(token: &str, id: i64) -> Result<(), ApiFailure> {
    http::send_empty("DELETE", &format!("/api/v1/users/{id}"), Some(token)).await
}

pub async fn set_role(token: &str, id: i64, body: &UpdateUser) -> Result<UserInfo, ApiFailure> {
    http::send_json(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

/// Filters of the token registry's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub active: Option<bool>,
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
}

pub async fn tokens(token: &str, f: &TokenFilter) -> Result<Vec<TokenInfo>, ApiFailure> {
    let mut q = vec!["limit=500".to_owned()];
    if let Some(a) = f.active {
        q.push(format!("active={a}"));
    }
    if let Some(u) = f.user_id {
        q.push(format!("user_id={u}"));
    }
    if let Some(d) = f.device_id {
        q.push(format!("device_id={d}"));
    }
    http::send_json::<(), _>(
        "GET",
        &format!("/api/v1/tokens?{}", q.join("&")),
        Some(token),
        None,
    )
    .await
}

pub async fn revoke_token(token: &str, token_id: &str) -> Result<(), ApiFailure> {
    http::send_empty(
        "POST",
        &format!("/api/v1/tokens/{token_id}/revoke"),
        Some(token),
    )
    .await
}

pub async fn audit(token: &str) -> Result<Vec<AuditEntry>, ApiFailure> {
    http::send_json::<(), _>("GET", "/api/v1/audit?limit=200", Some(token), None).await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(feature = "browser")]
mod http {
    use gloo_net::http::{Request, RequestBuilder, Response};

    use super::*;
    use crate::types::ErrorBody;

    async fn send<B: Serialize>(
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<Response, ApiFailure> {
        let url = format!("{}{}", base_url(), path);
        let mut rb: RequestBuilder = match method {
            "POST" => Request::post(&url),
            "PATCH" => Request::patch(&url),
            "DELETE" => Request::delete(&url),
            _ => Request::get(&url),
        };
        if let Some(t) = token {
            rb = rb.header("x-access-token", t);
        }
        let req = match body {
            Some(b) => rb.json(b).map_err(ApiFailure::network)?,
            None => rb.build().map_err(ApiFailure::network)?,
        };
        let resp = req.send().await.map_err(ApiFailure::network)?;
        if resp.ok() {
            return Ok(resp);
        }
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.parse().ok());
        Err(match resp.json::<ErrorBody>().await {
            Ok(err) => ApiFailure {
                status,
                code: Some(err.error),
                message: err.message,
                retry_after,
            },
            Err(_) => ApiFailure {
                status,
                code: None,
                message: format!("Vigil answered {status}."),
                retry_after,
            },
        })
    }

    pub async fn send_json<B: Serialize, T: DeserializeOwned>(
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, ApiFailure> {
        send(method, path, token, body)
            .await?
            .json::<T>()
            .await
            .map_err(ApiFailure::network)
    }

    pub async fn send_empty(
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<(), ApiFailure> {
        send::<()>(method, path, token, None).await.map(|_| ())
    }
}

#[cfg(not(feature = "browser"))]
mod http {
    //! The server never calls the API through this client; these keep the
    //! shared components compiling for server-side rendering.
    use super::*;

    fn unavailable() -> ApiFailure {
        ApiFailure {
            status: 0,
            code: None,
            message: "only in the browser".into(),
            retry_after: None,
        }
    }

    pub async fn send_json<B: Serialize, T: DeserializeOwned>(
        _: &str,
        _: &str,
        _: Option<&str>,
        _: Option<&B>,
    ) -> Result<T, ApiFailure> {
        Err(unavailable())
    }

    pub async fn send_empty(_: &str, _: &str, _: Option<&str>) -> Result<(), ApiFailure> {
        Err(unavailable())
    }
}
