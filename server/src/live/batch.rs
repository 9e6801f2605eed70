//! A committed batch as the live stream sends it: serialized once, into one
//! JSON array whose elements every stream can take whole or pick from.

use std::ops::Range;

use axum::body::Bytes;
use serde::Serialize;

use crate::{db, readings::Reading};

/// The batch's JSON array, and where each reading sits in it.
pub struct LiveBatch {
    json: Bytes,
    /// Device and byte range of each element of `json`.
    spans: Vec<(i64, Range<usize>)>,
}

/// `app::types::LiveReading` with borrowed text, so serializing copies
/// nothing first (a test checks the two agree).
#[derive(Serialize)]
struct Wire<'a> {
    device_id: i64,
    sensor: &'a str,
    value: f64,
    unit: Option<&'a str>,
    ts: String,
}

impl LiveBatch {
    pub fn new<'a>(rows: impl IntoIterator<Item = &'a Reading>) -> LiveBatch {
        let rows = rows.into_iter();
        let hint = rows.size_hint().0;
        let mut json = Vec::with_capacity(hint * 96 + 2);
        let mut spans = Vec::with_capacity(hint);
        json.push(b'[');
        for (i, r) in rows.enumerate() {
            if i > 0 {
                json.push(b',');
            }
            let start = json.len();
            let wire = Wire {
                device_id: r.device_id,
                sensor: &r.sensor,
                value: r.value,
                unit: r.unit.as_deref(),
                ts: db::rfc3339_millis(r.ts),
            };
            // Writing plain fields into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut json, &wire);
            spans.push((r.device_id, start..json.len()));
        }
        json.push(b']');
        LiveBatch {
            json: json.into(),
            spans,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Each reading's device and JSON object (`{"device_id":N,...}`).
    pub fn readings(&self) -> impl Iterator<Item = (i64, &[u8])> {
        self.spans
            .iter()
            .map(|(id, span)| (*id, &self.json[span.clone()]))
    }

    /// The whole batch, shared (no copy).
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// Appends this batch's readings (of one device, or all) to an array
    /// being built, comma-separated; returns how many it added.
    pub fn append_to(&self, out: &mut Vec<u8>, device: Option<i64>) -> usize {
        let mut added = 0;
        for (id, span) in &self.spans {
            if device.is_some_and(|d| d != *id) {
                continue;
            }
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(&self.json[span.clone()]);
            added += 1;
        }
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::types::LiveReading;

    fn r(device_id: i64, sensor: &str, value: f64) -> Reading {
        Reading {
            device_id,
            sensor: sensor.into(),
            value,
            unit: Some("°C".into()),
            ts: 1_800_000_000_123,
        }
    }

    #[test]
    fn the_shared_array_reads_back_as_the_api_type() {
        let b = LiveBatch::new(&[r(1, "t", 1.5), r(2, "h\"q", -3.0)]);
        let back: Vec<LiveReading> = serde_json::from_slice(b.json()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].sensor, "h\"q");
        assert_eq!(back[0].unit.as_deref(), Some("°C"));
        assert_eq!(back[0].ts, "2027-01-15T08:00:00.123Z");
    }

    #[test]
    fn one_devices_readings_are_picked_out_of_several_batches() {
        let a = LiveBatch::new(&[r(1, "a", 1.0), r(2, "b", 2.0)]);
        let b = LiveBatch::new(&[r(2, "c", 3.0), r(1, "d", 4.0)]);
        let mut out = vec![b'['];
        assert_eq!(a.append_to(&mut out, Some(2)), 1);
        assert_eq!(b.append_to(&mut out, Some(2)), 1);
        out.push(b']');
        let back: Vec<LiveReading> = serde_json::from_slice(&out).unwrap();
        let sensors: Vec<&str> = back.iter().map(|r| r.sensor.as_str()).collect();
        assert_eq!(sensors, ["b", "c"]);
    }
}
