//! Ingestion of device readings: validation of a whole batch before anything
//! is stored, the group-commit writer that makes a 202 mean durable, and
//! `POST /device/v1/readings`.

pub mod quota;
mod routes;
mod store;
pub mod writer;

use app::types::ReadingIn;

use crate::{
    clock::Clock,
    devices::Devices,
    readings::{valid_sensor, Reading},
};
use quota::Quotas;
use writer::Writer;

pub use routes::router;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Invalid(String),
    #[error("the device sends faster than it may; try again in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    #[error("storing readings: {0}")]
    Store(anyhow::Error),
}

/// The path every batch takes, whatever carried it (HTTP or MQTT):
/// validated whole, admitted by the device's quotas, committed by the
/// group-commit writer, which then publishes them live. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    pub writer: Writer,
    pub devices: Devices,
    pub quotas: Quotas,
    pub clock: Clock,
}

impl Pipeline {
    /// How many readings were stored, once committed; nothing of a refused
    /// batch is.
    pub async fn store(
        &self,
        device_id: i64,
        readings: Vec<ReadingIn>,
    ) -> Result<usize, IngestError> {
        let now_ms = self.clock.now_ms();
        let rows = validate(device_id, readings, now_ms)?;
        self.quotas
            .admit(device_id, &rows, std::time::Instant::now())
            .await?;
        let accepted = rows.len();
        // Once committed, the writer publishes them live.
        self.writer.write(rows).await.map_err(IngestError::Store)?;
        self.devices.mark_seen(device_id, now_ms / 1000);
        Ok(accepted)
    }
}

pub const MAX_READINGS: usize = 1000;
/// 1000 readings of generous size fit; anything larger is refused unread.
pub const MAX_BODY: usize = 256 * 1024;
/// Readings stamped further ahead than this are refused (clock trouble).
const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// Validates every reading; one bad reading refuses the whole batch, with
/// the index of the first culprit.
pub fn validate(
    device_id: i64,
    batch: Vec<ReadingIn>,
    now_ms: i64,
) -> Result<Vec<Reading>, IngestError> {
    if batch.is_empty() {
        return Err(IngestError::Invalid(
            "readings must hold at least one reading".into(),
        ));
    }
    if batch.len() > MAX_READINGS {
        return Err(IngestError::Invalid(format!(
            "at most {MAX_READINGS} readings per request"
        )));
    }
    batch
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            one(device_id, r, now_ms)
                .map_err(|m| IngestError::Invalid(format!("readings[{i}]: {m}")))
        })
        .collect()
}

fn one(device_id: i64, r: ReadingIn, now_ms: i64) -> Result<Reading, String> {
    if !valid_sensor(&r.sensor) {
        return Err("sensor must be 1-64 characters of letters, digits and _ . : - /".into());
    }
    if !r.value.is_finite() {
        return Err("value must be a finite number".into());
    }
    if let Some(u) = &r.unit {
        if u.is_empty() || u.chars().count() > 16 || u.chars().any(char::is_control) {
            return Err("unit must be 1-16 printable characters".into());
        }
    }
    let ts = match &r.ts {
        None => now_ms,
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| "ts must be an RFC 3339 time such as 2026-11-22T10:00:00Z".to_string())?
            .timestamp_millis(),
    };
    if ts > now_ms + MAX_FUTURE_MS {
        return Err("ts is more than 5 minutes in the future".into());
    }
    if ts < 0 {
        return Err("ts is before 1970".into());
    }
    Ok(Reading {
        device_id,
        sensor: r.sensor,
        value: r.value,
        unit: r.unit,
        ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sensor: &str, value: f64) -> ReadingIn {
        ReadingIn {
            sensor: sensor.into(),
            value,
            unit: None,
            ts: None,
        }
    }

    #[test]
    fn a_good_batch_passes_with_arrival_time_for_missing_timestamps() {
        let mut with_ts = r("temp", 21.5);
        with_ts.ts = Some("2026-11-22T10:00:00Z".into());
        with_ts.unit = Some("°C".into());
        let out = validate(3, vec![r("temp", 1.0), with_ts], 1_800_000_000_000).unwrap();
        assert_eq!(out[0].ts, 1_800_000_000_000);
        assert_eq!(out[1].ts, 1_795_341_600_000);
        assert_eq!(out[1].device_id, 3);
    }

    #[test]
    fn one_bad_reading_refuses_the_batch_and_names_it() {
        for bad in [
            r("", 1.0),
            r("has space", 1.0),
            r(&"s".repeat(65), 1.0),
            r("x", f64::NAN),
            r("x", f64::INFINITY),
        ] {
            let err = validate(1, vec![r("ok", 1.0), bad], 0).unwrap_err();
            assert!(err.to_string().starts_with("readings[1]"), "{err}");
        }
        let mut future = r("x", 1.0);
        future.ts = Some("2999-01-01T00:00:00Z".into());
        assert!(validate(1, vec![future], 0).is_err());
        let mut garbled = r("x", 1.0);
        garbled.ts = Some("yesterday".into());
        assert!(validate(1, vec![garbled], 0).is_err());
    }

    #[test]
    fn batch_size_is_bounded() {
        assert!(validate(1, vec![], 0).is_err());
        assert!(validate(1, vec![r("x", 1.0); MAX_READINGS], 0).is_ok());
        assert!(validate(1, vec![r("x", 1.0); MAX_READINGS + 1], 0).is_err());
    }
}
