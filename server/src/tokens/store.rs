//! SQL of the token registry. The `blacklist` columns are the contract's
//! name for what the code calls revoked.

use app::types::RevocationReason;
use sqlx::{any::AnyRow, Any, Executor, Row};

use super::revoked::{still_accepted_since, RevokedToken};
use crate::db::{Db, Engine};

pub struct NewToken<'a> {
    pub token_id: &'a str,
    pub owner: Owner,
    pub digest: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
    /// A device token's certificate (hex SHA-256).
    pub cert: Option<&'a str>,
}

pub struct TokenRow {
    pub token_id: String,
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    pub reason: Option<RevocationReason>,
}

#[derive(Default)]
pub struct Filter {
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    pub active: Option<bool>,
    pub limit: i64,
}

/// Whose tokens: a user's or a device's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    User(i64),
    Device(i64),
}

impl Owner {
    fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            Owner::User(id) => (Some(id), None),
            Owner::Device(id) => (None, Some(id)),
        }
    }
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

/// Records a token only while its owner still is what the token claims: a
/// user that exists with `role`, or an active device. A concurrent role
/// change, deletion or revocation (which revokes the owner's tokens) then
/// either waits for this insert or makes it insert nothing.
pub async fn insert(
    db: &Db,
    engine: Engine,
    t: &NewToken<'_>,
    role: Option<&str>,
) -> sqlx::Result<bool> {
    let guard = match t.owner {
        Owner::User(_) => "SELECT 1 FROM users WHERE id = $2 AND role = $8",
        // The device active, and the certificate the token is bound to not
        // retired (a token for a retired certificate would never be revoked).
        Owner::Device(_) => {
            "SELECT 1 FROM devices WHERE id = $3 AND status = 'active' \
             AND ($7 IS NULL OR EXISTS (SELECT 1 FROM device_certificates c \
             WHERE c.cert_sha256 = $7 AND (c.retire_at IS NULL OR c.retire_at > $5)))"
        }
    };
    let sql = format!(
        "INSERT INTO tokens (token_id, user_id, device_id, token_sha256, issued_at, expires_at, cert_sha256) \
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS ({guard}{})",
        share_lock(engine)
    );
    let (user_id, device_id) = t.owner.ids();
    let mut q = sqlx::query(&sql)
        .bind(t.token_id)
        .bind(user_id)
        .bind(device_id)
        .bind(t.digest)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .bind(t.cert);
    if let Some(role) = role {
        q = q.bind(role);
    }
    Ok(q.execute(db).await?.rows_affected() == 1)
}

/// How many tokens `owner` was issued since `since`, and when the oldest of
/// them was.
pub async fn issued_since(db: &Db, owner: Owner, since: i64) -> sqlx::Result<(i64, Option<i64>)> {
    let (user_id, device_id) = owner.ids();
    let row = sqlx::query(
        "SELECT COUNT(*), MIN(issued_at) FROM tokens \
         WHERE (user_id = $1 OR device_id = $2) AND issued_at > $3",
    )
    .bind(user_id.unwrap_or(-1))
    .bind(device_id.unwrap_or(-1))
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Revokes one token; `Some` when this call changed it.
pub async fn revoke(
    db: &Db,
    token_id: &str,
    reason: RevocationReason,
    now: i64,
) -> sqlx::Result<Option<RevokedToken>> {
    let row = sqlx::query(
        "UPDATE tokens SET blacklist = 1, blacklist_reason = $1, blacklisted_at = $2 \
         WHERE token_id = $3 AND blacklist = 0 RETURNING token_id, expires_at",
    )
    .bind(reason.as_str())
    .bind(now)
    .bind(token_id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(revoked_token).transpose()
}

/// Revokes every token of an owner that could still be accepted (but
/// `keep`, when given), inside the caller's transaction; returns what it
/// changed.
pub async fn revoke_owner<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    owner: Owner,
    reason: RevocationReason,
    now: i64,
    keep: Option<&str>,
) -> sqlx::Result<Vec<RevokedToken>> {
    let column = match owner {
        Owner::User(_) => "user_id",
        Owner::Device(_) => "device_id",
    };
    let id = match owner {
        Owner::User(id) | Owner::Device(id) => id,
    };
    let sql = format!(
        "UPDATE tokens SET blacklist = 1, blacklist_reason = $1, blacklisted_at = $2 \
         WHERE {column} = $3 AND blacklist = 0 AND expires_at >= $4 AND token_id <> $5 \
         RETURNING token_id, expires_at"
    );
    let rows = sqlx::query(&sql)
        .bind(reason.as_str())
        .bind(now)
        .bind(id)
        .bind(still_accepted_since(now))
        // Token ids are never empty: "" keeps nothing.
        .bind(keep.unwrap_or_default())
        .fetch_all(ex)
        .await?;
    rows.iter().map(revoked_token).collect()
}

fn revoked_token(r: &AnyRow) -> sqlx::Result<RevokedToken> {
    Ok(RevokedToken {
        token_id: r.try_get(0)?,
        expires_at: r.try_get(1)?,
    })
}

/// A token's registry entry when it is revoked: `None` when unknown,
/// `Some(None)` when still good.
pub async fn revocation(db: &Db, token_id: &str) -> sqlx::Result<Option<Option<RevokedToken>>> {
    let row = sqlx::query("SELECT token_id, expires_at, blacklist FROM tokens WHERE token_id = $1")
        .bind(token_id)
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        let revoked: i64 = r.try_get(2)?;
        Ok((revoked != 0).then(|| revoked_token(&r)).transpose()?)
    })
    .transpose()
}

/// Revoked tokens the gateway could still accept, revoked since `since`.
pub async fn revoked_since(db: &Db, now: i64, since: i64) -> sqlx::Result<Vec<RevokedToken>> {
    let rows = sqlx::query(
        "SELECT token_id, expires_at FROM tokens \
         WHERE blacklist = 1 AND expires_at >= $1 AND blacklisted_at >= $2",
    )
    .bind(still_accepted_since(now))
    .bind(since)
    .fetch_all(db)
    .await?;
    rows.iter().map(revoked_token).collect()
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
            let reason: Option<String> = r.try_get(6)?;
            Ok(TokenRow {
                token_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                device_id: r.try_get(2)?,
                issued_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                revoked: r.try_get::<i64, _>(5)? != 0,
                reason: reason.as_deref().and_then(RevocationReason::parse),
            })
        })
        .collect()
}

/// Marks expired tokens and purges those expired before `purge_before`.
pub async fn sweep(db: &Db, now: i64, purge_before: i64) -> sqlx::Result<(u64, u64)> {
    let marked = sqlx::query(
        "UPDATE tokens SET blacklist = 1, blacklist_reason = $1, blacklisted_at = $2 \
         WHERE blacklist = 0 AND expires_at <= $2",
    )
    .bind(RevocationReason::Expired.as_str())
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
