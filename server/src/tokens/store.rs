//! SQL of the token registry.

use sqlx::{Any, Executor, Row};

use crate::{
    auth::jwt::LEEWAY_SECS,
    db::{Db, Engine},
};

pub struct NewToken<'a> {
    pub token_id: &'a str,
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    pub digest: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
}

pub struct TokenRow {
    pub token_id: String,
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub blacklist: bool,
    pub blacklist_reason: Option<String>,
}

#[derive(Default)]
pub struct Filter {
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    pub active: Option<bool>,
    pub limit: i64,
}

/// Row lock that makes a concurrent revocation wait for this insert
/// (PostgreSQL; SQLite runs one writer at a time anyway).
fn share_lock(engine: Engine) -> &'static str {
    if engine == Engine::Postgres {
        " FOR SHARE"
    } else {
        ""
    }
}

/// Inserts the token only when `guard` (a query over $1–$6, and $7 when
/// `extra` is given) finds a row.
async fn insert_if(
    db: &Db,
    t: &NewToken<'_>,
    guard: &str,
    extra: Option<&str>,
) -> sqlx::Result<bool> {
    let sql = format!(
        "INSERT INTO tokens (token_id, user_id, device_id, token_sha256, issued_at, expires_at) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS ({guard})"
    );
    let mut q = sqlx::query(&sql)
        .bind(t.token_id)
        .bind(t.user_id)
        .bind(t.device_id)
        .bind(t.digest)
        .bind(t.issued_at)
        .bind(t.expires_at);
    if let Some(v) = extra {
        q = q.bind(v);
    }
    Ok(q.execute(db).await?.rows_affected() == 1)
}

/// Records a user token only while that user exists with `role`, so a
/// concurrent role change or deletion (which revokes the user's tokens)
/// cannot miss it.
pub async fn insert_for_user(
    db: &Db,
    engine: Engine,
    t: &NewToken<'_>,
    role: &str,
) -> sqlx::Result<bool> {
    let guard = format!(
        "SELECT 1 FROM users WHERE id = $2 AND role = $7{}",
        share_lock(engine)
    );
    insert_if(db, t, &guard, Some(role)).await
}

/// Records a device token only while the device is active.
pub async fn insert_for_device(db: &Db, engine: Engine, t: &NewToken<'_>) -> sqlx::Result<bool> {
    let guard = format!(
        "SELECT 1 FROM devices WHERE id = $3 AND status = 'active'{}",
        share_lock(engine)
    );
    insert_if(db, t, &guard, None).await
}

/// Blacklists one token; `Some(expires_at)` when this call changed it.
pub async fn blacklist(
    db: &Db,
    token_id: &str,
    reason: &str,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE tokens SET blacklist = 1, blacklist_reason = $1, blacklisted_at = $2 \
         WHERE token_id = $3 AND blacklist = 0 RETURNING expires_at",
    )
    .bind(reason)
    .bind(now)
    .bind(token_id)
    .fetch_optional(db)
    .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// Whose tokens: a user's or a device's.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    User(i64),
    Device(i64),
}

/// Blacklists every token of an owner that could still be accepted;
/// returns what it changed.
pub async fn blacklist_owner<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    owner: Owner,
    reason: &str,
    now: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    let (column, id) = match owner {
        Owner::User(id) => ("user_id", id),
        Owner::Device(id) => ("device_id", id),
    };
    let sql = format!(
        "UPDATE tokens SET blacklist = 1, blacklist_reason = $1, blacklisted_at = $2 \
         WHERE {column} = $3 AND blacklist = 0 AND expires_at >= $4 RETURNING token_id, expires_at"
    );
    let rows = sqlx::query(&sql)
        .bind(reason)
        .bind(now)
        .bind(id)
        .bind(still_accepted_since(now))
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub async fn expiry(db: &Db, token_id: &str) -> sqlx::Result<Option<i64>> {
    let row = sqlx::query("SELECT expires_at FROM tokens WHERE token_id = $1")
        .bind(token_id)
        .fetch_optional(db)
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// The oldest `exp` the gateway can still accept at `now` (leeway).
pub fn still_accepted_since(now: i64) -> i64 {
    now - LEEWAY_SECS as i64
}

/// Revoked tokens the gateway could still accept, revoked since `since`.
pub async fn revoked_since(db: &Db, now: i64, since: i64) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT token_id, expires_at FROM tokens \
         WHERE blacklist = 1 AND expires_at >= $1 AND blacklisted_at >= $2",
    )
    .bind(still_accepted_since(now))
    .bind(since)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub async fn list(db: &Db, f: &Filter, now: i64) -> sqlx::Result<Vec<TokenRow>> {
    let mut sql = String::from(
        "SELECT token_id, user_id, device_id, issued_at, expires_at, blacklist, blacklist_reason \
         FROM tokens WHERE 1 = 1",
    );
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if f.user_id.is_some() {
        sql += &format!(" AND user_id = {}", next());
    }
    if f.device_id.is_some() {
        sql += &format!(" AND device_id = {}", next());
    }
    match f.active {
        Some(true) => sql += &format!(" AND blacklist = 0 AND expires_at > {}", next()),
        Some(false) => sql += &format!(" AND (blacklist = 1 OR expires_at <= {})", next()),
        None => {}
    }
    sql += &format!(" ORDER BY issued_at DESC, token_id LIMIT {}", next());
    let mut q = sqlx::query(&sql);
    if let Some(u) = f.user_id {
        q = q.bind(u);
    }
    if let Some(d) = f.device_id {
        q = q.bind(d);
    }
    if f.active.is_some() {
        q = q.bind(now);
    }
    let rows = q.bind(f.limit).fetch_all(db).await?;
    rows.iter()
        .map(|r| {
            Ok(TokenRow {
                token_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                device_id: r.try_get(2)?,
                issued_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                blacklist: r.try_get::<i64, _>(5)? != 0,
                blacklist_reason: r.try_get(6)?,
            })
        })
        .collect()
}

/// Marks expired tokens and purges those expired before `purge_before`.
pub async fn sweep(db: &Db, now: i64, purge_before: i64) -> sqlx::Result<(u64, u64)> {
    let marked = sqlx::query(
        "UPDATE tokens SET blacklist = 1, blacklist_reason = 'expired', blacklisted_at = $1 \
         WHERE blacklist = 0 AND expires_at <= $1",
    )
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    let purged = sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
        .bind(purge_before)
        .execute(db)
        .await?
        .rows_affected();
    Ok((marked, purged))
}
