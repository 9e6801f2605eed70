//! Sending requests: gloo-net in the browser; on the server (which renders
//! pages but never calls the API through this client) stand-ins.

#[cfg(feature = "browser")]
pub use browser::*;
#[cfg(not(feature = "browser"))]
pub use server::*;

#[cfg(feature = "browser")]
mod browser {
    use gloo_net::http::{Request, RequestBuilder, Response};

    use super::super::*;
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

    /// A body sent, no body back (204).
    pub async fn send_json_empty<B: Serialize>(
        method: &str,
        path: &str,
        token: &str,
        body: &B,
    ) -> Result<(), ApiFailure> {
        send(method, path, Some(token), Some(body))
            .await
            .map(|_| ())
    }

    /// A GET whose answer is kept as bytes (a file to save).
    pub async fn get_bytes(path: &str, token: &str) -> Result<Vec<u8>, ApiFailure> {
        send::<()>("GET", path, Some(token), None)
            .await?
            .binary()
            .await
            .map_err(ApiFailure::network)
    }

    /// A GET of a list whose answer may name the next page in `Link` and
    /// count every page in `x-total-count`.
    pub async fn get_paged<T: DeserializeOwned>(
        path: &str,
        token: &str,
    ) -> Result<Page<T>, ApiFailure> {
        let resp = send::<()>("GET", path, Some(token), None).await?;
        let headers = resp.headers();
        let next = headers.get("link").as_deref().and_then(next_link);
        let total = headers
            .get(crate::types::TOTAL_COUNT_HEADER)
            .and_then(|t| t.parse().ok());
        let items = resp.json::<Vec<T>>().await.map_err(ApiFailure::network)?;
        Ok(Page { items, next, total })
    }
}

#[cfg(not(feature = "browser"))]
mod server {
    //! The server never calls the API through this client; these keep the
    //! shared components compiling for server-side rendering.
    use super::super::*;

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

    pub async fn get_bytes(_: &str, _: &str) -> Result<Vec<u8>, ApiFailure> {
        Err(unavailable())
    }

    pub async fn get_paged<T: DeserializeOwned>(_: &str, _: &str) -> Result<Page<T>, ApiFailure> {
        Err(unavailable())
    }

    pub async fn send_json_empty<B: Serialize>(
        _: &str,
        _: &str,
        _: &str,
        _: &B,
    ) -> Result<(), ApiFailure> {
        Err(unavailable())
    }
}
