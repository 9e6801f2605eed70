//! The browser side of the live readings stream: a fetch whose response
//! body is read as server-sent events, with the token in a header.

use crate::types::{Command, Device, ErrorCode, LiveReading};

/// What the stream announces besides readings.
#[derive(Debug, Clone)]
pub enum Change {
    /// A command's new status.
    Command(Command),
    /// A device new to the platform (enrolled or registered).
    Device(Box<Device>),
}

/// What a page does when its stream ends: a revoked or expired token signs
/// the user out; anything else leaves the page as it is.
pub fn end_handler(auth: crate::session::Auth) -> impl Fn(String) + Copy + 'static {
    move |reason: String| {
        if let Some(code) = ErrorCode::parse(&reason).filter(|c| c.ends_session()) {
            let failure = crate::api::ApiFailure {
                status: 401,
                code: Some(code),
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

/// What a page does with the stream's events.
pub struct Handlers<R, B, C, E> {
    /// Once the server has subscribed the stream.
    pub ready: R,
    /// Each batch of readings.
    pub readings: B,
    /// Each change of a command's status, and each device new to the
    /// platform.
    pub command: C,
    /// The reason the stream ended.
    pub end: E,
}

/// Starts receiving readings and command changes; `end` gets the reason the server gave
/// (`token_revoked`, `token_expired`), `closed`, or an error text.
#[cfg(feature = "browser")]
pub fn subscribe(
    token: String,
    device_id: Option<i64>,
    handlers: Handlers<
        impl Fn() + 'static,
        impl Fn(Vec<LiveReading>) + 'static,
        impl Fn(Change) + 'static,
        impl Fn(String) + 'static,
    >,
) -> Subscription {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let Handlers {
        ready: on_ready,
        readings: on_batch,
        command: on_command,
        end: on_end,
    } = handlers;
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
        let chunks = futures_util::stream::unfold(Some(reader), |reader| async move {
            let reader = reader?;
            let chunk = match JsFuture::from(reader.read()).await {
                Ok(chunk) => chunk,
                Err(_) => return Some((Err("aborted"), None)),
            };
            let done = js_sys::Reflect::get(&chunk, &"done".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            if done {
                return None;
            }
            let bytes = js_sys::Reflect::get(&chunk, &"value".into())
                .map(|v| js_sys::Uint8Array::new(&v).to_vec())
                .unwrap_or_default();
            Some((Ok(bytes), Some(reader)))
        });
        // The event-stream format in full (CRLF, `data:` without a space,
        // multi-line data, comments), by a parser made for it.
        let mut events = std::pin::pin!(chunks.eventsource());
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => return on_end(e.to_string()),
            };
            match event.event.as_str() {
                "ready" => on_ready(),
                "readings" => {
                    if let Ok(batch) = serde_json::from_str::<Vec<LiveReading>>(&event.data) {
                        on_batch(batch);
                    }
                }
                "commands" => {
                    if let Ok(command) = serde_json::from_str::<Command>(&event.data) {
                        on_command(Change::Command(command));
                    }
                }
                "devices" => {
                    if let Ok(device) = serde_json::from_str::<Device>(&event.data) {
                        on_command(Change::Device(Box::new(device)));
                    }
                }
                "end" => {
                    let reason = serde_json::from_str::<serde_json::Value>(&event.data)
                        .ok()
                        .and_then(|v| v["reason"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "ended".into());
                    return on_end(reason);
                }
                _ => {}
            }
        }
        on_end("closed".into());
    });
    Subscription { abort }
}

#[cfg(not(feature = "browser"))]
pub fn subscribe(
    _: String,
    _: Option<i64>,
    _: Handlers<
        impl Fn() + 'static,
        impl Fn(Vec<LiveReading>) + 'static,
        impl Fn(Change) + 'static,
        impl Fn(String) + 'static,
    >,
) -> Subscription {
    Subscription {}
}
