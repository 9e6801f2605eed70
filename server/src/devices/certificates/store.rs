//! SQL of device certificates: every certificate a device may present.

use app::types::{Enrollment, RevocationReason};
use sqlx::{any::AnyRow, AnyConnection, Row};

use crate::{
    db::Db,
    tokens::revoked::{still_accepted_since, RevokedToken},
};

/// A device's certificate with what the index needs of its device.
pub struct CertRow {
    pub cert_sha256: String,
    pub device_id: i64,
    pub kind: Enrollment,
    pub serial: Option<String>,
    pub not_after: Option<i64>,
    pub added_at: i64,
    pub first_used_at: Option<i64>,
    pub retire_at: Option<i64>,
    pub registration_id: String,
    pub active: bool,
    pub group_id: Option<i64>,
}

const SELECT: &str =
    "SELECT c.cert_sha256, c.device_id, c.kind, c.serial, c.not_after, c.added_at, \
     c.first_used_at, c.retire_at, d.registration_id, d.status, d.group_id \
     FROM device_certificates c JOIN devices d ON d.id = c.device_id";

fn row(r: &AnyRow) -> sqlx::Result<CertRow> {
    let kind: String = r.try_get(2)?;
    let status: String = r.try_get(9)?;
    Ok(CertRow {
        cert_sha256: r.try_get(0)?,
        device_id: r.try_get(1)?,
        kind: Enrollment::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("kind: unknown `{kind}`").into()))?,
        serial: r.try_get(3)?,
        not_after: r.try_get(4)?,
        added_at: r.try_get(5)?,
        first_used_at: r.try_get(6)?,
        retire_at: r.try_get(7)?,
        registration_id: r.try_get(8)?,
        active: status == "active",
        group_id: r.try_get(10)?,
    })
}

/// Every certificate of every device (for the index at start).
pub async fn all(db: &Db) -> sqlx::Result<Vec<CertRow>> {
    sqlx::query(&format!("{SELECT} ORDER BY c.device_id, c.added_at"))
        .fetch_all(db)
        .await?
        .iter()
        .map(row)
        .collect()
}

/// One device's certificates, oldest first.
pub async fn of_device(db: &Db, device_id: i64) -> sqlx::Result<Vec<CertRow>> {
    sqlx::query(&format!(
        "{SELECT} WHERE c.device_id = $1 ORDER BY c.added_at, c.cert_sha256"
    ))
    .bind(device_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(row)
    .collect()
}

pub struct NewCert<'a> {
    pub cert_sha256: &'a str,
    pub device_id: i64,
    pub kind: Enrollment,
    pub serial: Option<&'a str>,
    pub not_after: Option<i64>,
    /// `None` for a certificate whose first use retires the ones it
    /// replaces; the time of enrollment otherwise.
    pub first_used_at: Option<i64>,
}

pub async fn insert(conn: &mut AnyConnection, c: &NewCert<'_>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO device_certificates (cert_sha256, device_id, kind, serial, not_after, added_at, first_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.cert_sha256)
    .bind(c.device_id)
    .bind(c.kind.as_str())
    .bind(c.serial)
    .bind(c.not_after)
    .bind(now)
    .bind(c.first_used_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many of the device's certificates are not retired at `now`.
pub async fn usable_count(conn: &mut AnyConnection, device_id: i64, now: i64) -> sqlx::Result<i64> {
    sqlx::query(
        "SELECT COUNT(*) FROM device_certificates \
         WHERE device_id = $1 AND (retire_at IS NULL OR retire_at > $2)",
    )
    .bind(device_id)
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get(0)
}

/// Sets when a certificate stops being accepted, unless it stops sooner.
pub async fn retire(conn: &mut AnyConnection, cert_sha256: &str, at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE device_certificates SET retire_at = $1 \
         WHERE cert_sha256 = $2 AND (retire_at IS NULL OR retire_at > $1)",
    )
    .bind(at)
    .bind(cert_sha256)
    .execute(conn)
    .await?;
    Ok(())
}

/// Retires one of the device's certificates at `at` (unless it stops
/// sooner): whether it is the device's and was usable until now.
pub async fn retire_of(
    conn: &mut AnyConnection,
    device_id: i64,
    cert_sha256: &str,
    at: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE device_certificates SET retire_at = $1 \
         WHERE cert_sha256 = $2 AND device_id = $3 AND (retire_at IS NULL OR retire_at > $1)",
    )
    .bind(at)
    .bind(cert_sha256)
    .bind(device_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Whether the certificate is the device's (retired or not).
pub async fn belongs(
    conn: &mut AnyConnection,
    device_id: i64,
    cert_sha256: &str,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM device_certificates WHERE cert_sha256 = $1 AND device_id = $2")
            .bind(cert_sha256)
            .bind(device_id)
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

/// The device's primary certificate.
pub async fn primary(conn: &mut AnyConnection, device_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query("SELECT cert_sha256 FROM devices WHERE id = $1")
        .bind(device_id)
        .fetch_optional(conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()
}

/// The device's newest certificate still usable at `now`.
pub async fn newest_usable(
    conn: &mut AnyConnection,
    device_id: i64,
    now: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query(
        "SELECT cert_sha256 FROM device_certificates \
         WHERE device_id = $1 AND (retire_at IS NULL OR retire_at > $2) \
         ORDER BY added_at DESC, cert_sha256 LIMIT 1",
    )
    .bind(device_id)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|r| r.try_get(0))
    .transpose()
}

/// Makes `cert` the device's primary certificate (the API's
/// `cert_sha256`).
pub async fn make_primary(
    conn: &mut AnyConnection,
    device_id: i64,
    cert: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE devices SET cert_sha256 = $1, \
         cert_serial = (SELECT serial FROM device_certificates WHERE cert_sha256 = $1), \
         cert_not_after = (SELECT not_after FROM device_certificates WHERE cert_sha256 = $1) \
         WHERE id = $2",
    )
    .bind(cert)
    .bind(device_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a certificate's first use (and its notAfter, when unknown), and
/// retires at once the certificates of the device still in their overlap:
/// the ones it replaced.
pub async fn first_use(
    db: &Db,
    device_id: i64,
    cert: &str,
    not_after: i64,
    now: i64,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE device_certificates SET first_used_at = COALESCE(first_used_at, $1), \
         not_after = COALESCE(not_after, $2) WHERE cert_sha256 = $3",
    )
    .bind(now)
    .bind(not_after)
    .bind(cert)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE devices SET cert_not_after = $1 \
         WHERE id = $2 AND cert_sha256 = $3 AND cert_not_after IS NULL",
    )
    .bind(not_after)
    .bind(device_id)
    .bind(cert)
    .execute(&mut *tx)
    .await?;
    // Only while the one used is itself still usable (an operator may
    // have retired it meanwhile): a device never loses every certificate.
    sqlx::query(
        "UPDATE device_certificates SET retire_at = $1 \
         WHERE device_id = $2 AND cert_sha256 <> $3 AND retire_at > $1 \
         AND EXISTS (SELECT 1 FROM device_certificates u WHERE u.cert_sha256 = $3 \
                     AND (u.retire_at IS NULL OR u.retire_at > $1))",
    )
    .bind(now)
    .bind(device_id)
    .bind(cert)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// How far back `revoke_retired_tokens` looks for tokens of retired
/// certificates each time: a token issued while its certificate was being
/// retired is caught on a later pass.
const STRAGGLERS: i64 = 600;

/// Revokes the tokens bound to certificates retired by `now` (those
/// retired in the last ten minutes, each pass), and notes the certificates
/// whose retirement is new: `(their device ids, tokens revoked)`.
pub async fn revoke_retired_tokens(
    db: &Db,
    now: i64,
) -> sqlx::Result<(Vec<i64>, Vec<RevokedToken>)> {
    let mut tx = db.begin().await?;
    // A write first: on SQLite a transaction that read first could not
    // write once another had (it would fail, not wait).
    let due = sqlx::query(
        "UPDATE device_certificates SET tokens_revoked = 1 \
         WHERE tokens_revoked = 0 AND retire_at IS NOT NULL AND retire_at <= $1 \
         RETURNING device_id",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut devices = due
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<sqlx::Result<Vec<_>>>()?;
    let revoked = sqlx::query(
        "UPDATE tokens SET blacklist = 1, blacklist_reason = $1, blacklisted_at = $2 \
         WHERE blacklist = 0 AND expires_at >= $3 AND cert_sha256 IN \
         (SELECT cert_sha256 FROM device_certificates WHERE retire_at <= $2 AND retire_at > $4) \
         RETURNING token_id, expires_at",
    )
    .bind(RevocationReason::CertificateRetired.as_str())
    .bind(now)
    .bind(still_accepted_since(now))
    .bind(now - STRAGGLERS)
    .fetch_all(&mut *tx)
    .await?;
    let tokens = revoked
        .iter()
        .map(|t| {
            Ok(RevokedToken {
                token_id: t.try_get(0)?,
                expires_at: t.try_get(1)?,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    tx.commit().await?;
    devices.sort_unstable();
    devices.dedup();
    Ok((devices, tokens))
}

/// Takes the device's row lock for the rest of the transaction (a write
/// that changes nothing): certificate changes of one device happen one at
/// a time, on both engines.
pub async fn lock_device(conn: &mut AnyConnection, device_id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("UPDATE devices SET id = id WHERE id = $1")
        .bind(device_id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// Whether the certificate may still be used at `now`, its device active.
pub async fn usable(conn: &mut AnyConnection, cert_sha256: &str, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 FROM device_certificates c JOIN devices d ON d.id = c.device_id \
         WHERE c.cert_sha256 = $1 AND d.status = 'active' \
         AND (c.retire_at IS NULL OR c.retire_at > $2)",
    )
    .bind(cert_sha256)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// Retires the device's renewals never used, but `keep`: a device that
/// lost a renewal's answer and renews again does not keep the lost one.
pub async fn retire_unused(
    conn: &mut AnyConnection,
    device_id: i64,
    keep: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE device_certificates SET retire_at = $1 \
         WHERE device_id = $2 AND cert_sha256 <> $3 AND first_used_at IS NULL \
         AND (retire_at IS NULL OR retire_at > $1)",
    )
    .bind(now)
    .bind(device_id)
    .bind(keep)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many certificates the device was given in the last day.
pub async fn added_since(
    conn: &mut AnyConnection,
    device_id: i64,
    since: i64,
) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) FROM device_certificates WHERE device_id = $1 AND added_at > $2")
        .bind(device_id)
        .bind(since)
        .fetch_one(conn)
        .await?
        .try_get(0)
}

/// `(serial hex, revoked at)` of every certificate the device CA issued
/// that is no longer to be trusted: its device revoked, or itself retired.
pub async fn revoked_ca_issued(db: &Db, now: i64) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query(
        "SELECT c.serial, CASE WHEN d.status = 'revoked' AND (c.retire_at IS NULL OR c.retire_at > d.revoked_at) \
                THEN d.revoked_at ELSE c.retire_at END \
         FROM device_certificates c JOIN devices d ON d.id = c.device_id \
         WHERE c.kind = 'ca_issued' AND c.serial IS NOT NULL \
         AND (d.status = 'revoked' OR c.retire_at <= $1) \
         ORDER BY c.added_at, c.cert_sha256",
    )
    .bind(now)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        let at: Option<i64> = r.try_get(1)?;
        Ok((r.try_get(0)?, at.unwrap_or_default()))
    })
    .collect()
}
