//! The browser's client of the public API (gloo-net). Every call that needs
//! a token sends it in `x-access-token`, never in the URL.

use serde::{de::DeserializeOwned, Serialize};

use crate::types::{LoginRequest, LoginResponse, UserInfo};

/// An answer that was not a success, in the contract's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Seconds, from `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiFailure {
    #[cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]
    fn network(e: impl std::fmt::Display) -> Self {
        ApiFailure {
            status: 0,
            code: "network".into(),
            message: format!("Vigil could not be reached ({e})."),
            retry_after: None,
        }
    }
}

/// Prefix of every API path: empty when the dashboard is served by Vigil
/// itself; set at build time for a dashboard served elsewhere (Trunk).
#[cfg_attr(not(any(feature = "hydrate", feature = "csr")), allow(dead_code))]
fn base() -> &'static str {
    option_env!("VIGIL_API_BASE").unwrap_or("")
}

pub async fn login(username: &str, password: &str) -> Result<LoginResponse, ApiFailure> {
    let body = LoginRequest { username: username.into(), password: password.into() };
    http::send_json("POST", "/api/v1/auth/login", None, Some(&body)).await
}

pub async fn me(token: &str) -> Result<UserInfo, ApiFailure> {
    http::send_json::<(), _>("GET", "/api/v1/auth/me", Some(token), None).await
}

pub async fn logout(token: &str) -> Result<(), ApiFailure> {
    http::send_empty("POST", "/api/v1/auth/logout", Some(token)).await
}

#[cfg(any(feature = "hydrate", feature = "csr"))]
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
        let url = format!("{}{}", base(), path);
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
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.parse().ok());
        let err = resp.json::<ErrorBody>().await.unwrap_or(ErrorBody {
            error: "http".into(),
            message: format!("Vigil answered {status}."),
        });
        Err(ApiFailure { status, code: err.error, message: err.message, retry_after })
    }

    pub async fn send_json<B: Serialize, T: DeserializeOwned>(
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, ApiFailure> {
        send(method, path, token, body).await?.json::<T>().await.map_err(ApiFailure::network)
    }

    pub async fn send_empty(method: &str, path: &str, token: Option<&str>) -> Result<(), ApiFailure> {
        send::<()>(method, path, token, None).await.map(|_| ())
    }
}

#[cfg(not(any(feature = "hydrate", feature = "csr")))]
mod http {
    //! The server never calls the API through this client; these keep the
    //! shared components compiling for server-side rendering.
    use super::*;

    fn unavailable() -> ApiFailure {
        ApiFailure { status: 0, code: "unavailable".into(), message: "only in the browser".into(), retry_after: None }
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
