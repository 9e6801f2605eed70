//! SQL of the audit log.

use app::types::{AuditEntry, AuditEvent};
use sqlx::Row;

use super::Entry;
use crate::{
    db::{self, Db},
    sql::{self, Conditions},
};

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

/// What the audit list shows: an event, text in its actor, subject,
/// address or detail.
#[derive(Default)]
pub struct Filter {
    pub event: Option<AuditEvent>,
    pub search: Option<String>,
}

fn conditions(f: &Filter) -> Conditions {
    let mut c = Conditions::default();
    if let Some(e) = f.event {
        let n = c.text(e.as_str());
        c.push(format!("event = {n}"));
    }
    if let Some(text) = &f.search {
        sql::any_contains(&mut c, &["actor", "subject", "ip", "detail"], text);
    }
    c
}

/// Newest first: at most `limit` entries of the filter with an id below
/// `before`.
pub async fn list(db: &Db, f: &Filter, before: i64, limit: i64) -> sqlx::Result<Vec<AuditEntry>> {
    let mut c = conditions(f);
    let b = c.int(before);
    c.push(format!("id < {b}"));
    let n = c.int(limit);
    let sql = format!(
        "SELECT id, ts, event, actor, subject, ip, detail FROM audit_log {} \
         ORDER BY id DESC LIMIT {n}",
        c.where_clause()
    );
    let rows = c.bind(sqlx::query(&sql)).fetch_all(db).await?;
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

/// How many entries the filter matches, on every page.
pub async fn count(db: &Db, f: &Filter) -> sqlx::Result<i64> {
    let c = conditions(f);
    let sql = format!("SELECT COUNT(*) FROM audit_log {}", c.where_clause());
    c.bind(sqlx::query(&sql)).fetch_one(db).await?.try_get(0)
}

/// Up to `$2` entries older than `$1`, oldest first (`db::delete_in_batches`).
pub const TRIM: &str = "DELETE FROM audit_log WHERE id IN \
     (SELECT id FROM audit_log WHERE ts < $1 ORDER BY id LIMIT $2)";
