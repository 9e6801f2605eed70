//! What one device may send: at most so many distinct sensors, and readings
//! at a sustained rate (a token bucket holding ten seconds of it, so a
//! device that was quiet may send a burst). A batch past either is refused
//! whole, before anything is stored.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};

use super::IngestError;
use crate::{db::Db, readings::Reading};

/// Seconds of the sustained rate a quiet device may send at once.
const BURST_SECS: f64 = 10.0;

#[derive(Clone)]
pub struct Quotas(Arc<Inner>);

struct Inner {
    db: Db,
    max_sensors: usize,
    per_second: f64,
    devices: Mutex<HashMap<i64, DeviceQuota>>,
}

struct DeviceQuota {
    /// Every sensor name the device has used (or has in flight).
    sensors: HashSet<String>,
    /// Readings it may send now, and when that was last worked out.
    tokens: f64,
    at: Instant,
}

impl Quotas {
    pub fn new(db: Db, max_sensors: usize, per_second: u32) -> Self {
        Quotas(Arc::new(Inner {
            db,
            max_sensors,
            per_second: f64::from(per_second),
            devices: Mutex::default(),
        }))
    }

    /// Takes the batch's readings from the device's allowance and records
    /// its new sensor names, or refuses the whole batch.
    pub async fn admit(
        &self,
        device_id: i64,
        rows: &[Reading],
        now: Instant,
    ) -> Result<(), IngestError> {
        if !self.known(device_id) {
            let sensors = self.stored_sensors(device_id).await?;
            let mut devices = self.lock();
            devices.entry(device_id).or_insert_with(|| DeviceQuota {
                sensors,
                tokens: self.0.per_second * BURST_SECS,
                at: now,
            });
        }
        let mut devices = self.lock();
        let Some(q) = devices.get_mut(&device_id) else {
            return Err(IngestError::Store(anyhow::anyhow!("device quota vanished")));
        };
        let new: HashSet<&str> = rows
            .iter()
            .map(|r| r.sensor.as_str())
            .filter(|s| !q.sensors.contains(*s))
            .collect();
        if q.sensors.len() + new.len() > self.0.max_sensors {
            return Err(IngestError::Invalid(format!(
                "a device may use at most {} distinct sensor names; this batch would make {}",
                self.0.max_sensors,
                q.sensors.len() + new.len()
            )));
        }
        let capacity = self.0.per_second * BURST_SECS;
        let elapsed = now.saturating_duration_since(q.at).as_secs_f64();
        q.tokens = (q.tokens + elapsed * self.0.per_second).min(capacity);
        q.at = now;
        let wanted = rows.len() as f64;
        if q.tokens < wanted {
            let retry_after = ((wanted - q.tokens) / self.0.per_second).ceil().max(1.0) as u64;
            return Err(IngestError::RateLimited { retry_after });
        }
        q.tokens -= wanted;
        q.sensors.extend(new.into_iter().map(str::to_owned));
        Ok(())
    }

    fn known(&self, device_id: i64) -> bool {
        self.lock().contains_key(&device_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, DeviceQuota>> {
        self.0.devices.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn stored_sensors(&self, device_id: i64) -> Result<HashSet<String>, IngestError> {
        super::store::sensors(&self.0.db, device_id)
            .await
            .map_err(|e| IngestError::Store(e.into()))
    }
}
