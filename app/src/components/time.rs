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
    }
}
