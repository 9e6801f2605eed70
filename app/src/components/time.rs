//! Times for people, and for charts.

use leptos::prelude::*;

/// `2026-11-22T10:01:00.000Z` → `2026-11-22 10:01:00` (UTC).
pub fn short(ts: &str) -> String {
    let t = ts.replacen('T', " ", 1);
    t.split('.')
        .next()
        .unwrap_or(&t)
        .trim_end_matches('Z')
        .to_owned()
}

/// `…T10:01:00…` → `10:01:00`.
pub fn clock(ts: &str) -> String {
    ts.split('T')
        .nth(1)
        .map(|t| t.chars().take(8).collect())
        .unwrap_or_default()
}

/// Milliseconds since the epoch of an RFC 3339 time (browser only).
pub fn millis(ts: &str) -> f64 {
    #[cfg(feature = "browser")]
    {
        js_sys::Date::parse(ts)
    }
    #[cfg(not(feature = "browser"))]
    {
        let _ = ts;
        0.0
    }
}

/// `ms` milliseconds before now, as RFC 3339 (browser only).
pub fn before_now(ms: f64) -> Option<String> {
    #[cfg(feature = "browser")]
    {
        let at = js_sys::Date::now() - ms;
        js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at))
            .to_iso_string()
            .as_string()
    }
    #[cfg(not(feature = "browser"))]
    {
        let _ = ms;
        None
    }
}

/// Now, in milliseconds since the epoch (browser only; 0 on the server).
pub fn now_ms() -> f64 {
    #[cfg(feature = "browser")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "browser"))]
    {
        0.0
    }
}

/// Seconds for people: `5 min`, `1 h`, `24 h`, `90 s`.
pub fn span(secs: u32) -> String {
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// How long before `now_ms` the time `ms` was, for people: `just now`,
/// `40 s ago`, `5 min ago`, `3 h ago`, `2 d ago` (a time ahead of the
/// clock, a device's skew, reads as `just now`).
pub fn ago(ms: f64, now_ms: f64) -> String {
    let s = ((now_ms - ms) / 1000.0).floor();
    match s {
        s if s.is_nan() => String::new(),
        s if s < 5.0 => "just now".into(),
        s if s < 60.0 => format!("{s} s ago"),
        s if s < 3600.0 => format!("{} min ago", (s / 60.0).floor()),
        s if s < 86_400.0 => format!("{} h ago", (s / 3600.0).floor()),
        s => format!("{} d ago", (s / 86_400.0).floor()),
    }
}

/// A clock that relative times read, moved every 10 s (in context).
#[derive(Clone, Copy)]
pub struct Now(RwSignal<f64>);

/// Starts the clock `Ago` reads, for the components under this one.
pub fn provide_now() {
    let now = RwSignal::new(now_ms());
    #[cfg(feature = "browser")]
    if let Ok(h) = set_interval_with_handle(
        move || now.set(now_ms()),
        std::time::Duration::from_secs(10),
    ) {
        on_cleanup(move || h.clear());
    }
    provide_context(Now(now));
}

/// How long ago `ts` was (`5 min ago`), the exact time on hover.
#[component]
pub fn Ago(#[prop(into)] ts: String) -> impl IntoView {
    let now = use_context::<Now>();
    let zone = use_zone();
    let at = millis(&ts);
    let text = move || ago(at, now.map_or_else(now_ms, |n| n.0.get()));
    let exact = {
        let ts = ts.clone();
        move || shown(&ts, zone.get())
    };
    view! { <time datetime=ts title=exact>{text}</time> }
}

/// Whether times show in UTC (`true`) or in the browser's time zone, for
/// the whole app; the choice is kept in `localStorage` (`vigil.utc`).
#[derive(Clone, Copy)]
pub struct Zone(RwSignal<bool>);

impl Zone {
    pub fn utc(&self) -> bool {
        self.0.get()
    }

    pub fn set_utc(&self, utc: bool) {
        self.0.set(utc);
        #[cfg(feature = "browser")]
        if let Some(store) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = store.set_item(ZONE_KEY, if utc { "1" } else { "0" });
        }
    }

    fn get(&self) -> bool {
        self.0.get()
    }
}

#[cfg_attr(not(feature = "browser"), allow(dead_code))]
const ZONE_KEY: &str = "vigil.utc";

/// Provides the choice to the whole app (in `App`). The server renders
/// UTC; the browser reads the stored choice once hydrated, so both
/// render the same first.
pub fn provide_zone() {
    let utc = RwSignal::new(true);
    Effect::new(move |_| {
        #[cfg(feature = "browser")]
        {
            let stored = web_sys::window()
                .and_then(|w| w.local_storage().ok().flatten())
                .and_then(|s| s.get_item(ZONE_KEY).ok().flatten());
            utc.set(stored.as_deref() == Some("1"));
        }
    });
    provide_context(Zone(utc));
}

pub fn use_zone() -> Zone {
    use_context::<Zone>().unwrap_or(Zone(RwSignal::new(true)))
}

/// `ts` as the app shows it: in the browser's zone, or with ` UTC`.
pub fn shown(ts: &str, utc: bool) -> String {
    match (utc, local(ts)) {
        (false, Some(l)) => l,
        _ => format!("{} UTC", short(ts)),
    }
}

/// `ts` in the browser's time zone, `2026-11-22 11:01:00` (browser only).
fn local(ts: &str) -> Option<String> {
    #[cfg(feature = "browser")]
    {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(ts));
        if d.get_time().is_nan() {
            return None;
        }
        Some(format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date(),
            d.get_hours(),
            d.get_minutes(),
            d.get_seconds()
        ))
    }
    #[cfg(not(feature = "browser"))]
    {
        let _ = ts;
        None
    }
}

/// The value of a `datetime-local` input (`2026-11-22T10:01`) as RFC 3339,
/// read in UTC or in the browser's zone; `None` when empty.
pub fn from_input(value: &str, utc: bool) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let seconds = if value.len() == 16 { ":00" } else { "" };
    if utc {
        return Some(format!("{value}{seconds}Z"));
    }
    #[cfg(feature = "browser")]
    {
        // Without a zone, the browser reads the text as its local time.
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(&format!(
            "{value}{seconds}"
        )));
        if d.get_time().is_nan() {
            return None;
        }
        d.to_iso_string().as_string()
    }
    #[cfg(not(feature = "browser"))]
    Some(format!("{value}{seconds}Z"))
}

/// A time as the app shows it, the other zone's reading on hover.
#[component]
pub fn Time(#[prop(into)] ts: String) -> impl IntoView {
    let zone = use_zone();
    let (a, b) = (ts.clone(), ts.clone());
    let text = move || shown(&a, zone.get());
    let other = move || match (zone.get(), local(&b)) {
        (true, Some(l)) => format!("{l} (your time)"),
        _ => format!("{} UTC", short(&b)),
    };
    view! { <time datetime=ts title=other>{text}</time> }
}

/// Now, as RFC 3339 (browser only).
pub fn now_rfc3339() -> Option<String> {
    #[cfg(feature = "browser")]
    {
        js_sys::Date::new_0().to_iso_string().as_string()
    }
    #[cfg(not(feature = "browser"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_shorten_for_people() {
        assert_eq!(
            super::short("2026-11-22T10:01:00.000Z"),
            "2026-11-22 10:01:00"
        );
        assert_eq!(super::clock("2026-11-22T10:01:00.000Z"), "10:01:00");
        assert_eq!(super::span(300), "5 min");
        assert_eq!(super::span(86_400), "24 h");
        assert_eq!(super::span(90), "90 s");
        let now = 1_000_000_000.0;
        assert_eq!(super::ago(now - 2_000.0, now), "just now");
        assert_eq!(super::ago(now + 60_000.0, now), "just now");
        assert_eq!(super::ago(now - 42_500.0, now), "42 s ago");
        assert_eq!(super::ago(now - 300_000.0, now), "5 min ago");
        assert_eq!(super::ago(now - 3.0 * 3_600_000.0 - 5.0, now), "3 h ago");
        assert_eq!(super::ago(now - 49.0 * 3_600_000.0, now), "2 d ago");
    }
}
