//! The browser side of the live readings stream: a fetch whose response
//! body is read as server-sent events, with the token in a header.

use crate::types::LiveReading;

/// What a page does when its stream ends: a revoked or expired token signs
/// the user out; anything else leaves the page as it is.
pub fn end_handler(auth: crate::session::Auth) -> impl Fn(String) + Copy + 'static {
    move |reason: String| {
        if reason == "token_revoked" || reason == "token_expired" {
            let failure = crate::api::ApiFailure {
                status: 401,
                code: reason.clone(),
                message: reason,
                retry_after: None,
            };
            auth.handle(&failure);
        }
    }
}

/// Ends the subscription when dropped (or when `stop` is called).
pub struct Subscription {
    #[cfg(feature = "browser")]
    abort: Option<web_sys::AbortController>,
}

impl Subscription {
    pub fn stop(&mut self) {
        #[cfg(feature = "browser")]
        if let Some(a) = self.abort.take() {
            a.abort();
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts receiving readings; `on_ready` runs once the server has
/// subscribed this stream, `on_end` gets the reason the server gave
/// (`token_revoked`, `token_expired`, `too_slow`) or an error text.
#[cfg(feature = "browser")]
pub fn subscribe(
    token: String,
    device_id: Option<i64>,
    on_ready: impl Fn() + 'static,
    on_batch: impl Fn(Vec<LiveReading>) + 'static,
    on_end: impl Fn(String) + 'static,
) -> Subscription {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let abort = web_sys::AbortController::new().ok();
    let signal = abort.as_ref().map(|a| a.signal());
    leptos::task::spawn_local(async move {
        let q = device_id
            .map(|d| format!("?device_id={d}"))
            .unwrap_or_default();
        let req =
            gloo_net::http::Request::get(&format!("{}/api/v1/live{q}", crate::api::base_url()))
                .header("x-access-token", &token)
                .abort_signal(signal.as_ref());
        let resp = match req.send().await {
            Ok(r) if r.ok() => r,
            Ok(r) => return on_end(format!("http_{}", r.status())),
            Err(e) => return on_end(e.to_string()),
        };
        let Some(body) = resp.body() else {
            return on_end("no_body".into());
        };
        let Ok(reader) = body
            .get_reader()
            .dyn_into::<web_sys::ReadableStreamDefaultReader>()
        else {
            return on_end("no_reader".into());
        };
        // Bytes until a whole event is in: a character may straddle chunks.
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let Ok(chunk) = JsFuture::from(reader.read()).await else {
                return on_end("aborted".into());
            };
            let done = js_sys::Reflect::get(&chunk, &"done".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            if done {
                return on_end("closed".into());
            }
            if let Ok(value) = js_sys::Reflect::get(&chunk, &"value".into()) {
                buf.extend(js_sys::Uint8Array::new(&value).to_vec());
            }
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let raw_bytes: Vec<u8> = buf.drain(..end + 2).collect();
                let raw = String::from_utf8_lossy(&raw_bytes);
                let (mut name, mut data) = ("", String::new());
                for line in raw.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n;
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                match name {
                    "ready" => on_ready(),
                    "readings" => {
                        if let Ok(batch) = serde_json::from_str::<Vec<LiveReading>>(&data) {
                            on_batch(batch);
                        }
                    }
                    "end" => {
                        let reason = serde_json::from_str::<serde_json::Value>(&data)
                            .ok()
                            .and_then(|v| v["reason"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| "ended".into());
                        return on_end(reason);
                    }
                    _ => {}
                }
            }
        }
    });
    Subscription { abort }
}

#[cfg(not(feature = "browser"))]
pub fn subscribe(
    _: String,
    _: Option<i64>,
    _: impl Fn() + 'static,
    _: impl Fn(Vec<LiveReading>) + 'static,
    _: impl Fn(String) + 'static,
) -> Subscription {
    Subscription {}
}
