//! SQL of the user table.

use app::types::{Role, UserInfo};
use sqlx::{any::AnyRow, Row};

use crate::{
    db::{Db, Engine},
    tokens::{
        revoked::RevokedToken,
        store::{self as tokens, Owner},
    },
};
use app::types::RevocationReason;

pub struct UserRow {
    pub info: UserInfo,
    pub password_hash: String,
}

fn info(r: &AnyRow) -> sqlx::Result<UserInfo> {
    let role: String = r.try_get("role")?;
    Ok(UserInfo {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        role: Role::parse(&role)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role}").into()))?,
    })
}

pub async fn count(db: &Db) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await?
        .try_get(0)
}

pub async fn create(
    db: &Db,
    username: &str,
    hash: &str,
    role: Role,
    now: i64,
) -> sqlx::Result<UserInfo> {
    let row = sqlx::query(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id, username, role",
    )
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .bind(now)
    .fetch_one(db)
    .await?;
    info(&row)
}

pub async fn list(db: &Db) -> sqlx::Result<Vec<UserInfo>> {
    let rows = sqlx::query("SELECT id, username, role FROM users ORDER BY id")
        .fetch_all(db)
        .await?;
    rows.iter().map(info).collect()
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<UserInfo>> {
    let row = sqlx::query("SELECT id, username, role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(info).transpose()
}

pub async fn by_username(db: &Db, username: &str) -> sqlx::Result<Option<UserRow>> {
    let row = sqlx::query(
        "SELECT id, username, role, password_hash FROM users WHERE lower(username) = lower($1)",
    )
    .bind(username)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(UserRow {
            info: info(&r)?,
            password_hash: r.try_get("password_hash")?,
        })
    })
    .transpose()
}

pub enum Change {
    /// Made; these tokens of the user were revoked with it.
    Done(Vec<RevokedToken>),
    NotFound,
    LastAdmin,
}

/// Keeps at least one administrator: the statement itself refuses to remove
/// the last one, and on PostgreSQL the admin rows are locked first so two
/// concurrent removals cannot each see the other's admin still there.
const KEEPS_AN_ADMIN: &str =
    "(role <> 'admin' OR (SELECT COUNT(*) FROM users WHERE role = 'admin') > 1)";

async fn lock_admins(tx: &mut sqlx::AnyConnection, engine: Engine) -> sqlx::Result<()> {
    if engine == Engine::Postgres {
        sqlx::query("SELECT id FROM users WHERE role = 'admin' FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn outcome(tx: &mut sqlx::AnyConnection, id: i64) -> sqlx::Result<Change> {
    let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(if exists.is_some() {
        Change::LastAdmin
    } else {
        Change::NotFound
    })
}

/// Deletes the user and revokes its tokens in one transaction.
pub async fn delete(db: &Db, engine: Engine, id: i64, now: i64) -> sqlx::Result<Change> {
    let mut tx = db.begin().await?;
    lock_admins(&mut tx, engine).await?;
    let sql = format!("DELETE FROM users WHERE id = $1 AND {KEEPS_AN_ADMIN}");
    if sqlx::query(&sql)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 0
    {
        return outcome(&mut tx, id).await;
    }
    let revoked = tokens::revoke_owner(
        &mut *tx,
        Owner::User(id),
        RevocationReason::UserDeleted,
        now,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Change::Done(revoked))
}

/// Changes the role and revokes the user's tokens, whose `role` claim
/// would otherwise keep the old rights until they expire.
pub async fn set_role(
    db: &Db,
    engine: Engine,
    id: i64,
    role: Role,
    now: i64,
) -> sqlx::Result<Change> {
    let mut tx = db.begin().await?;
    lock_admins(&mut tx, engine).await?;
    let sql =
        format!("UPDATE users SET role = $1 WHERE id = $2 AND ($1 = 'admin' OR {KEEPS_AN_ADMIN})");
    if sqlx::query(&sql)
        .bind(role.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 0
    {
        return outcome(&mut tx, id).await;
    }
    let revoked = tokens::revoke_owner(
        &mut *tx,
        Owner::User(id),
        RevocationReason::RoleChanged,
        now,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Change::Done(revoked))
}

/// Sets a user's password and revokes its tokens (all but `keep`, when
/// given) in one transaction; `None` when there is no such user.
pub async fn set_password(
    db: &Db,
    id: i64,
    hash: &str,
    now: i64,
    keep: Option<&str>,
) -> sqlx::Result<Option<Vec<RevokedToken>>> {
    let mut tx = db.begin().await?;
    let found = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if found == 0 {
        return Ok(None);
    }
    let revoked = tokens::revoke_owner(
        &mut *tx,
        Owner::User(id),
        RevocationReason::PasswordChanged,
        now,
        keep,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(revoked))
}

/// A user's password hash, by id.
pub async fn password_hash(db: &Db, id: i64) -> sqlx::Result<Option<String>> {
    let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}
