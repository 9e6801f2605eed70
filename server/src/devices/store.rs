//! SQL of the device registry.

use std::collections::HashMap;

use app::types::{Device, DeviceStatus, Enrollment, Reading, RevocationReason};
use sqlx::{any::AnyRow, Row};

use crate::{
    db::{self, Db},
    tokens::{
        revoked::RevokedToken,
        store::{self as tokens, Owner},
    },
};

pub struct NewDevice<'a> {
    pub registration_id: &'a str,
    pub name: &'a str,
    pub cert_sha256: &'a str,
    pub cert_serial: Option<&'a str>,
    pub enrollment: Enrollment,
    pub group_id: Option<i64>,
    /// The certificate's notAfter (seconds), when known at enrollment.
    pub cert_not_after: Option<i64>,
}

const COLUMNS: &str = "id, registration_id, name, status, cert_sha256, enrollment, created_at, last_seen, cert_serial, group_id";
/// `COLUMNS` and the count of the device's open commands (reads only).
pub(crate) const LISTED: &str = "id, registration_id, name, status, cert_sha256, enrollment, created_at, last_seen, cert_serial, group_id, \
     (SELECT COUNT(*) FROM commands c WHERE c.device_id = devices.id \
      AND c.status IN ('queued', 'delivered')) AS open_commands";

pub struct DeviceRow {
    pub device: Device,
    pub serial: Option<String>,
}

fn decode<T>(column: &str, value: String, parse: fn(&str) -> Option<T>) -> sqlx::Result<T> {
    parse(&value).ok_or_else(|| sqlx::Error::Decode(format!("{column}: unknown `{value}`").into()))
}

pub(crate) fn row(r: &AnyRow) -> sqlx::Result<DeviceRow> {
    let last_seen: Option<i64> = r.try_get("last_seen")?;
    Ok(DeviceRow {
        device: Device {
            id: r.try_get("id")?,
            registration_id: r.try_get("registration_id")?,
            name: r.try_get("name")?,
            status: decode("status", r.try_get("status")?, DeviceStatus::parse)?,
            cert_sha256: r.try_get("cert_sha256")?,
            enrollment: decode("enrollment", r.try_get("enrollment")?, Enrollment::parse)?,
            group_id: r.try_get("group_id")?,
            created_at: db::rfc3339(r.try_get("created_at")?),
            last_seen: last_seen.map(db::rfc3339),
            latest: Vec::new(),
            open_commands: match r.try_get("open_commands") {
                Ok(n) => n,
                Err(sqlx::Error::ColumnNotFound(_)) => 0,
                Err(e) => return Err(e),
            },
        },
        serial: r.try_get("cert_serial")?,
    })
}

/// Inserts the device and its certificate (in the caller's transaction).
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    d: &NewDevice<'_>,
    now: i64,
) -> sqlx::Result<DeviceRow> {
    let sql = format!(
        "INSERT INTO devices (registration_id, name, cert_sha256, cert_serial, enrollment, created_at, group_id, cert_not_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    let r = sqlx::query(&sql)
        .bind(d.registration_id)
        .bind(d.name)
        .bind(d.cert_sha256)
        .bind(d.cert_serial)
        .bind(d.enrollment.as_str())
        .bind(now)
        .bind(d.group_id)
        .bind(d.cert_not_after)
        .fetch_one(&mut *conn)
        .await?;
    let device = row(&r)?;
    let cert = super::certificates::store::NewCert {
        cert_sha256: d.cert_sha256,
        device_id: device.device.id,
        kind: d.enrollment,
        serial: d.cert_serial,
        not_after: d.cert_not_after,
        first_used_at: Some(now),
    };
    super::certificates::store::insert(conn, &cert, now).await?;
    Ok(device)
}

pub async fn all(db: &Db) -> sqlx::Result<Vec<DeviceRow>> {
    let rows = sqlx::query(&format!("SELECT {LISTED} FROM devices ORDER BY id"))
        .fetch_all(db)
        .await?;
    let mut devices = rows.iter().map(row).collect::<sqlx::Result<Vec<_>>>()?;
    let mut latest = latest(db, None).await?;
    for d in &mut devices {
        d.device.latest = latest.remove(&d.device.id).unwrap_or_default();
    }
    Ok(devices)
}

/// Active devices whose certificate's notAfter is known and before
/// `before`, soonest first (at most `limit`), and how many there are.
/// Active devices whose certificate expires before `$1`.
const EXPIRING: &str = "status = 'active' AND cert_not_after IS NOT NULL AND cert_not_after < $1";

pub async fn expiring(db: &Db, before: i64, limit: i64) -> sqlx::Result<(Vec<Device>, i64)> {
    let rows = sqlx::query(&format!(
        "SELECT {LISTED} FROM devices WHERE {EXPIRING} ORDER BY cert_not_after, id LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let devices = rows
        .iter()
        .map(|r| row(r).map(|d| d.device))
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok((devices, expiring_count(db, before).await?))
}

/// How many active devices' certificates expire before `before`.
pub async fn expiring_count(db: &Db, before: i64) -> sqlx::Result<i64> {
    sqlx::query(&format!("SELECT COUNT(*) FROM devices WHERE {EXPIRING}"))
        .bind(before)
        .fetch_one(db)
        .await?
        .try_get(0)
}

pub async fn exists(db: &Db, id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM devices WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .is_some())
}

/// The device whose certificate has this thumbprint.
pub async fn by_thumbprint(db: &Db, thumbprint: &str) -> sqlx::Result<Option<DeviceRow>> {
    let id: Option<i64> = sqlx::query("SELECT id FROM devices WHERE cert_sha256 = $1")
        .bind(thumbprint)
        .fetch_optional(db)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    match id {
        Some(id) => get(db, id).await,
        None => Ok(None),
    }
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<DeviceRow>> {
    let r = sqlx::query(&format!("SELECT {LISTED} FROM devices WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    let Some(mut d) = r.as_ref().map(row).transpose()? else {
        return Ok(None);
    };
    d.device.latest = latest(db, Some(id)).await?.remove(&id).unwrap_or_default();
    Ok(Some(d))
}

/// Newest reading per sensor, by device (all devices, or one).
async fn latest(db: &Db, device: Option<i64>) -> sqlx::Result<HashMap<i64, Vec<Reading>>> {
    match device {
        Some(id) => latest_between(db, id, id).await,
        None => latest_between(db, i64::MIN, i64::MAX).await,
    }
}

/// Newest reading per sensor of the devices `ids` (a page of the list).
pub(crate) async fn latest_of(db: &Db, ids: &[i64]) -> sqlx::Result<HashMap<i64, Vec<Reading>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let listed: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT device_id, sensor, value, unit, ts FROM latest_readings \
         WHERE device_id IN ({}) ORDER BY device_id, sensor",
        listed.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    by_device(&q.fetch_all(db).await?)
}

/// Newest reading per sensor of the devices with ids in `first..=last`.
async fn latest_between(
    db: &Db,
    first: i64,
    last: i64,
) -> sqlx::Result<HashMap<i64, Vec<Reading>>> {
    let rows = sqlx::query(
        "SELECT device_id, sensor, value, unit, ts FROM latest_readings \
         WHERE device_id >= $1 AND device_id <= $2 ORDER BY device_id, sensor",
    )
    .bind(first)
    .bind(last)
    .fetch_all(db)
    .await?;
    by_device(&rows)
}

/// `device_id, sensor, value, unit, ts` rows, by device.
fn by_device(rows: &[AnyRow]) -> sqlx::Result<HashMap<i64, Vec<Reading>>> {
    let mut out: HashMap<i64, Vec<Reading>> = HashMap::new();
    for r in rows {
        out.entry(r.try_get(0)?).or_default().push(Reading {
            sensor: r.try_get(1)?,
            value: r.try_get(2)?,
            unit: r.try_get(3)?,
            ts: db::rfc3339_millis(r.try_get(4)?),
        });
    }
    Ok(out)
}

/// Marks the device revoked and revokes its live tokens, in one
/// transaction; `None` when there is no such device.
pub async fn revoke(db: &Db, id: i64, now: i64) -> sqlx::Result<Option<Vec<RevokedToken>>> {
    let mut tx = db.begin().await?;
    let tokens = revoke_in(&mut tx, id, now).await?;
    if tokens.is_some() {
        tx.commit().await?;
    }
    Ok(tokens)
}

/// `revoke` inside the caller's transaction.
pub async fn revoke_in(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    now: i64,
) -> sqlx::Result<Option<Vec<RevokedToken>>> {
    let found = sqlx::query("UPDATE devices SET status = 'revoked', revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if found == 0 {
        return Ok(None);
    }
    let tokens = tokens::revoke_owner(
        &mut *conn,
        Owner::Device(id),
        RevocationReason::DeviceRevoked,
        now,
        None,
    )
    .await?;
    Ok(Some(tokens))
}

/// Writes the last-seen times gathered in memory, in one transaction.
pub async fn touch(db: &Db, seen: &[(i64, i64)]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    for (id, at) in seen {
        sqlx::query("UPDATE devices SET last_seen = $1 WHERE id = $2 AND (last_seen IS NULL OR last_seen < $1)")
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}
