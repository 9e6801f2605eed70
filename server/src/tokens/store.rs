//! SQL of the token registry. The `blacklist` columns are the contract's
//! name for what the code calls revoked.

use app::types::{RevocationReason, TokenKind, TokenState};
use sqlx::{any::AnyRow, Any, Executor, Row};

use super::revoked::{still_accepted_since, RevokedToken};
use crate::{
    db::{Db, Engine},
    sql::{contains_pattern, Conditions},
};

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
    /// The user's name, or the device's, while the owner exists.
    pub owner_name: Option<String>,
}

#[derive(Default)]
pub struct Filter {
    pub user_id: Option<i64>,
    pub device_id: Option<i64>,
    /// The contract's `active`: usable (`true`), or revoked or expired.
    pub active: Option<bool>,
    pub kind: Option<TokenKind>,
    pub state: Option<TokenState>,
    /// Only tokens whose owner's name holds this text: a username, a
    /// device's name or its registration id (ASCII case ignored).
    pub owner: Option<String>,
    /// Tokens after this (issued_at, token_id) in the list's order.
    pub after: Option<(i64, String)>,
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

/// The filter's conditions, without where the page starts.
fn conditions(f: &Filter, now: i64) -> Conditions {
    let mut c = Conditions::default();
    if let Some(u) = f.user_id {
        let n = c.int(u);
        c.push(format!("user_id = {n}"));
    }
    if let Some(d) = f.device_id {
        let n = c.int(d);
        c.push(format!("device_id = {n}"));
    }
    if let Some(active) = f.active {
        let n = c.int(now);
        c.push(if active {
            format!("blacklist = 0 AND expires_at > {n}")
        } else {
            format!("(blacklist = 1 OR expires_at <= {n})")
        });
    }
    match f.kind {
        Some(TokenKind::User) => c.push("user_id IS NOT NULL"),
        Some(TokenKind::Device) => c.push("device_id IS NOT NULL"),
        None => {}
    }
    // The sweeper marks expired tokens with the reason `expired`: those
    // are expired, not revoked.
    match f.state {
        Some(TokenState::Active) => {
            let n = c.int(now);
            c.push(format!("blacklist = 0 AND expires_at > {n}"));
        }
        Some(TokenState::Revoked) => {
            c.push("blacklist = 1 AND COALESCE(blacklist_reason, '') <> 'expired'")
        }
        Some(TokenState::Expired) => {
            let n = c.int(now);
            c.push(format!(
                "((blacklist = 0 AND expires_at <= {n}) OR blacklist_reason = 'expired')"
            ));
        }
        None => {}
    }
    if let Some(text) = f.owner.as_deref() {
        let n = c.text(contains_pattern(text));
        c.push(format!(
            "(user_id IN (SELECT id FROM users WHERE lower(username) LIKE {n} ESCAPE '\\') \
             OR device_id IN (SELECT id FROM devices WHERE lower(name) LIKE {n} ESCAPE '\\' \
             OR lower(registration_id) LIKE {n} ESCAPE '\\'))"
        ));
    }
    c
}

/// At most `limit` tokens of the filter, newest first.
pub async fn list(db: &Db, f: &Filter, now: i64, limit: i64) -> sqlx::Result<Vec<TokenRow>> {
    let mut c = conditions(f, now);
    if let Some((issued_at, token_id)) = &f.after {
        let (a, b) = (c.int(*issued_at), c.text(token_id.clone()));
        c.push(format!(
            "(issued_at < {a} OR (issued_at = {a} AND token_id > {b}))"
        ));
    }
    let n = c.int(limit);
    let sql = format!(
        "SELECT token_id, user_id, device_id, issued_at, expires_at, blacklist, blacklist_reason, \
         COALESCE((SELECT username FROM users WHERE users.id = tokens.user_id), \
         (SELECT name FROM devices WHERE devices.id = tokens.device_id)) \
         FROM tokens {} ORDER BY issued_at DESC, token_id LIMIT {n}",
        c.where_clause()
    );
    let rows = c.bind(sqlx::query(&sql)).fetch_all(db).await?;
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
                owner_name: r.try_get(7)?,
            })
        })
        .collect()
}

/// How many tokens the filter matches, on every page.
pub async fn count(db: &Db, f: &Filter, now: i64) -> sqlx::Result<i64> {
    let c = conditions(f, now);
    let sql = format!("SELECT COUNT(*) FROM tokens {}", c.where_clause());
    c.bind(sqlx::query(&sql)).fetch_one(db).await?.try_get(0)
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
