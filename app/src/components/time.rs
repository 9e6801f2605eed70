//! Times for people, and for charts.

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
    }
}
