//! SQL of the audit log.

use app::types::{AuditEntry, AuditEvent};
use sqlx::Row;

use super::Entry;
use crate::db::{self, Db};

pub async fn insert<'e, E>(ex: E, e: &Entry, now: i64) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (ts, event, actor, subject, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now)
    .bind(e.event.as_str())
    .bind(e.actor.as_deref())
    .bind(e.subject.as_deref())
    .bind(e.ip.as_deref())
    .bind(e.detail.as_deref())
    .execute(ex)
    .await?;
    Ok(())
}

/// Newest first: entries of `event` (all when `None`) with an id below
/// `before`.
pub async fn list(
    db: &Db,
    event: Option<AuditEvent>,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT id, ts, event, actor, subject, ip, detail FROM audit_log \
         WHERE ($1 = '' OR event = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(event.map(AuditEvent::as_str).unwrap_or_default())
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let event: String = r.try_get(2)?;
            Ok(AuditEntry {
                id: r.try_get(0)?,
                ts: db::rfc3339(r.try_get(1)?),
                event: AuditEvent::parse(&event)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown event {event}").into()))?,
                actor: r.try_get(3)?,
                subject: r.try_get(4)?,
                ip: r.try_get(5)?,
                detail: r.try_get(6)?,
            })
        })
        .collect()
}

/// Up to `$2` entries older than `$1`, oldest first (`db::delete_in_batches`).
pub const TRIM: &str = "DELETE FROM audit_log WHERE id IN \
     (SELECT id FROM audit_log WHERE ts < $1 ORDER BY id LIMIT $2)";
