//! SQL of the commands. Every change of status is one `UPDATE` whose
//! `WHERE` names the states it may leave, so of two racing changes (two
//! answers, an answer and a cancel, an answer and the expiry) exactly one
//! matches a row; final states match none. Each change commits with its
//! audit entry.

use app::types::{Command, CommandStatus};
use sqlx::{any::AnyRow, Row};

use crate::{
    audit::{Audit, Entry},
    db::{self, Db, Engine},
};

const COLUMNS: &str = "id, device_id, name, payload, status, result, created_by, created_at, \
                       delivered_at, completed_at, expires_at";

/// The states a command can still leave.
const OPEN: &str = "status IN ('queued', 'delivered')";

fn json(column: &str, text: &str) -> sqlx::Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| sqlx::Error::Decode(format!("{column}: not JSON: {e}").into()))
}

fn row(r: &AnyRow) -> sqlx::Result<Command> {
    let status: String = r.try_get("status")?;
    let result: Option<String> = r.try_get("result")?;
    let delivered_at: Option<i64> = r.try_get("delivered_at")?;
    let completed_at: Option<i64> = r.try_get("completed_at")?;
    Ok(Command {
        id: r.try_get("id")?,
        device_id: r.try_get("device_id")?,
        name: r.try_get("name")?,
        payload: json("payload", &r.try_get::<String, _>("payload")?)?,
        status: CommandStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("status: unknown `{status}`").into()))?,
        result: result.as_deref().map(|t| json("result", t)).transpose()?,
        created_by: r.try_get("created_by")?,
        created_at: db::rfc3339(r.try_get("created_at")?),
        delivered_at: delivered_at.map(db::rfc3339),
        completed_at: completed_at.map(db::rfc3339),
        expires_at: db::rfc3339(r.try_get("expires_at")?),
    })
}

pub struct NewCommand<'a> {
    pub device_id: i64,
    pub name: &'a str,
    /// Serialized JSON.
    pub payload: &'a str,
    pub created_by: i64,
    pub expires_at: i64,
}

pub enum Created {
    Command(Command),
    NoDevice,
    DeviceRevoked,
}

/// Queues a command for an active device, with its audit entry. The
/// device's row is read under a share lock on PostgreSQL, so a revocation
/// committing meanwhile is seen (and its cancelling sees this command).
/// SQLite's single writer gives the same order.
pub async fn insert(
    db: &Db,
    engine: Engine,
    c: &NewCommand<'_>,
    now: i64,
    audit: impl FnOnce(&Command) -> Entry,
) -> sqlx::Result<Created> {
    let lock = match engine {
        Engine::Postgres => " FOR SHARE",
        Engine::Sqlite => "",
    };
    let sql = format!(
        "WITH d AS (SELECT id FROM devices WHERE id = $1 AND status = 'active'{lock}) \
         INSERT INTO commands (device_id, name, payload, status, created_by, created_at, expires_at) \
         SELECT d.id, $2, $3, 'queued', $4, $5, $6 FROM d RETURNING {COLUMNS}"
    );
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(&sql)
        .bind(c.device_id)
        .bind(c.name)
        .bind(c.payload)
        .bind(c.created_by)
        .bind(now)
        .bind(c.expires_at)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(r) = inserted else {
        let exists = sqlx::query("SELECT 1 FROM devices WHERE id = $1")
            .bind(c.device_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        return Ok(if exists {
            Created::DeviceRevoked
        } else {
            Created::NoDevice
        });
    };
    let command = row(&r)?;
    Audit::record_in(&mut tx, &audit(&command)).await?;
    tx.commit().await?;
    Ok(Created::Command(command))
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<Command>> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM commands WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    r.as_ref().map(row).transpose()
}

/// A device's commands, newest first, of one status or all.
pub async fn list(
    db: &Db,
    device_id: i64,
    status: Option<CommandStatus>,
    limit: i64,
) -> sqlx::Result<Vec<Command>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM commands WHERE device_id = $1 AND ($2 = '' OR status = $2) \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(device_id)
    .bind(status.map(CommandStatus::as_str).unwrap_or_default())
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(row).collect()
}

/// How many commands of the device are still open.
pub async fn open_count(db: &Db, device_id: i64) -> sqlx::Result<i64> {
    sqlx::query(&format!(
        "SELECT COUNT(*) FROM commands WHERE device_id = $1 AND {OPEN}"
    ))
    .bind(device_id)
    .fetch_one(db)
    .await?
    .try_get(0)
}

/// Hands the device up to `limit` of its queued, unexpired commands,
/// oldest first, marking them `delivered`.
pub async fn deliver(db: &Db, device_id: i64, now: i64, limit: i64) -> sqlx::Result<Vec<Command>> {
    let rows = sqlx::query(&format!(
        "UPDATE commands SET status = 'delivered', delivered_at = $2 \
         WHERE id IN (SELECT id FROM commands WHERE device_id = $1 AND status = 'queued' \
                      AND expires_at > $2 ORDER BY id LIMIT $3) \
           AND status = 'queued' RETURNING {COLUMNS}"
    ))
    .bind(device_id)
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut out = rows.iter().map(row).collect::<sqlx::Result<Vec<_>>>()?;
    out.sort_by_key(|c| c.id);
    Ok(out)
}

/// Up to `limit` of the device's queued, unexpired commands, oldest first,
/// left queued (a transport that marks them delivered on acknowledgement).
pub async fn queued(db: &Db, device_id: i64, now: i64, limit: i64) -> sqlx::Result<Vec<Command>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM commands WHERE device_id = $1 AND status = 'queued' \
         AND expires_at > $2 ORDER BY id LIMIT $3"
    ))
    .bind(device_id)
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter().map(row).collect()
}

/// A queued command of the device becomes `delivered`; `None` if it was
/// not queued any more.
pub async fn mark_delivered(
    db: &Db,
    device_id: i64,
    id: i64,
    now: i64,
) -> sqlx::Result<Option<Command>> {
    let r = sqlx::query(&format!(
        "UPDATE commands SET status = 'delivered', delivered_at = $3 \
         WHERE id = $1 AND device_id = $2 AND status = 'queued' RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(device_id)
    .bind(now)
    .fetch_optional(db)
    .await?;
    r.as_ref().map(row).transpose()
}

/// The change from an open state to a final one.
pub struct Finish<'a> {
    pub id: i64,
    pub status: CommandStatus,
    /// Serialized JSON.
    pub result: Option<&'a str>,
    /// Only this device's command (an answer), or any (a cancel).
    pub device_id: Option<i64>,
}

/// Moves an open, unexpired command to a final state with its audit
/// entry; `None` when no such command is open (unknown, another device's,
/// final, or past its time).
pub async fn finish(
    db: &Db,
    f: &Finish<'_>,
    now: i64,
    audit: impl FnOnce(&Command) -> Entry,
) -> sqlx::Result<Option<Command>> {
    let mut tx = db.begin().await?;
    let r = sqlx::query(&format!(
        "UPDATE commands SET status = $2, result = $3, completed_at = $4 \
         WHERE id = $1 AND {OPEN} AND expires_at > $4 AND ($5 = 0 OR device_id = $5) \
         RETURNING {COLUMNS}"
    ))
    .bind(f.id)
    .bind(f.status.as_str())
    .bind(f.result)
    .bind(now)
    .bind(f.device_id.unwrap_or(0))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let command = row(&r)?;
    Audit::record_in(&mut tx, &audit(&command)).await?;
    tx.commit().await?;
    Ok(Some(command))
}

/// Ends, with `status`, every open command matching `which` (SQL over
/// `commands` with `$1` the time), each with its audit entry.
async fn end_all(
    db: &Db,
    status: CommandStatus,
    which: &str,
    now: i64,
    audit: impl Fn(&Command) -> Entry,
) -> sqlx::Result<Vec<Command>> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query(&format!(
        "UPDATE commands SET status = '{}', completed_at = $1 WHERE {OPEN} AND {which} \
         RETURNING {COLUMNS}",
        status.as_str()
    ))
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut ended = rows.iter().map(row).collect::<sqlx::Result<Vec<_>>>()?;
    ended.sort_by_key(|c| c.id);
    for c in &ended {
        Audit::record_in(&mut tx, &audit(c)).await?;
    }
    tx.commit().await?;
    Ok(ended)
}

/// Open commands whose time is up become `expired`.
pub async fn expire_due(
    db: &Db,
    now: i64,
    audit: impl Fn(&Command) -> Entry,
) -> sqlx::Result<Vec<Command>> {
    end_all(db, CommandStatus::Expired, "expires_at <= $1", now, audit).await
}

/// Open commands of revoked devices become `cancelled`.
pub async fn cancel_for_revoked_devices(
    db: &Db,
    now: i64,
    audit: impl Fn(&Command) -> Entry,
) -> sqlx::Result<Vec<Command>> {
    end_all(
        db,
        CommandStatus::Cancelled,
        "device_id IN (SELECT id FROM devices WHERE status = 'revoked')",
        now,
        audit,
    )
    .await
}

/// When the next open command expires, if any is open.
pub async fn next_expiry(db: &Db) -> sqlx::Result<Option<i64>> {
    sqlx::query(&format!(
        "SELECT MIN(expires_at) FROM commands WHERE {OPEN}"
    ))
    .fetch_one(db)
    .await?
    .try_get(0)
}
