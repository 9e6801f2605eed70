//! The device token of `vigil-device send`, kept beside the device's key
//! (`device.token`, 0600) and reused until shortly before it expires, so a
//! device sending every minute does not ask for a token every minute.

use std::path::Path;

use app::types::{DeviceToken, ReadingsBatch};

use super::client::{Device, Refused};

const FILE: &str = "device.token";
/// A token closer than this to its expiry is replaced before use.
const RENEW_BEFORE_SECS: i64 = 60;

/// Sends the batch with the kept token, or a new one when there is none,
/// it is about to expire, or Vigil no longer takes it.
pub async fn send(device: &Device, dir: &Path, batch: &ReadingsBatch) -> anyhow::Result<usize> {
    if let Some(kept) = load(&dir.join(FILE)) {
        match device.send(&kept.token, batch).await {
            Ok(n) => return Ok(n),
            Err(e) if !token_refused(&e) => return Err(e),
            Err(_) => {} // revoked or expired early: try once with a new one
        }
    }
    let fresh = renew(device, dir).await?;
    device.send(&fresh.token, batch).await
}

/// The kept token while it holds, else a new one (then kept).
pub async fn current(device: &Device, dir: &Path) -> anyhow::Result<DeviceToken> {
    match load(&dir.join(FILE)) {
        Some(kept) => Ok(kept),
        None => renew(device, dir).await,
    }
}

/// A new token, kept in place of the old one.
pub async fn renew(device: &Device, dir: &Path) -> anyhow::Result<DeviceToken> {
    let fresh = device.token().await?;
    crate::pki::write_secret(&dir.join(FILE), &serde_json::to_string(&fresh)?)?;
    Ok(fresh)
}

/// The kept token, if it is readable and not about to expire.
fn load(path: &Path) -> Option<DeviceToken> {
    let kept: DeviceToken = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let expires = chrono::DateTime::parse_from_rfc3339(&kept.expires_at).ok()?;
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    (left > RENEW_BEFORE_SECS).then_some(kept)
}

/// Vigil no longer takes the token (revoked, expired): get another.
pub fn token_refused(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>()
        .and_then(|r| r.code)
        .is_some_and(|c| c.ends_session())
}
