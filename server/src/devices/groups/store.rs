//! SQL of enrollment groups, and of registration through one.

use app::types::{Enrollment, EnrollmentGroup, GroupStatus};
use sqlx::{any::AnyRow, Row};

use super::super::store::{self as devices, DeviceRow, NewDevice};
use crate::{
    audit::{Audit, Entry as Audited},
    db::{self, Db},
    tokens::revoked::RevokedToken,
};

const COLUMNS: &str = "id, name, ca_pem, ca_sha256, ca_subject, ca_not_after, status, \
    verification_code, max_devices, expires_at, registered, created_at, verified_at, revoked_at";

pub struct GroupRow {
    pub group: EnrollmentGroup,
    pub ca_pem: String,
    /// `group.expires_at` in seconds.
    pub expires_at: Option<i64>,
}

fn row(r: &AnyRow) -> sqlx::Result<GroupRow> {
    let status: String = r.try_get("status")?;
    let expires_at: Option<i64> = r.try_get("expires_at")?;
    let verified_at: Option<i64> = r.try_get("verified_at")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    Ok(GroupRow {
        group: EnrollmentGroup {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            status: GroupStatus::parse(&status)
                .ok_or_else(|| sqlx::Error::Decode(format!("status: unknown `{status}`").into()))?,
            verification_code: r.try_get("verification_code")?,
            ca_sha256: r.try_get("ca_sha256")?,
            ca_subject: r.try_get("ca_subject")?,
            ca_not_after: db::rfc3339(r.try_get("ca_not_after")?),
            max_devices: r.try_get("max_devices")?,
            expires_at: expires_at.map(db::rfc3339),
            registered: r.try_get("registered")?,
            created_at: db::rfc3339(r.try_get("created_at")?),
            verified_at: verified_at.map(db::rfc3339),
            revoked_at: revoked_at.map(db::rfc3339),
        },
        ca_pem: r.try_get("ca_pem")?,
        expires_at,
    })
}

pub struct NewGroup<'a> {
    pub name: &'a str,
    pub ca_pem: &'a str,
    pub ca_sha256: &'a str,
    pub ca_subject: &'a str,
    pub ca_not_after: i64,
    pub verification_code: &'a str,
    pub max_devices: Option<i64>,
    pub expires_at: Option<i64>,
}

pub async fn insert(db: &Db, g: &NewGroup<'_>, now: i64) -> sqlx::Result<GroupRow> {
    let r = sqlx::query(&format!(
        "INSERT INTO enrollment_groups (name, ca_pem, ca_sha256, ca_subject, ca_not_after, \
         verification_code, max_devices, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(g.name)
    .bind(g.ca_pem)
    .bind(g.ca_sha256)
    .bind(g.ca_subject)
    .bind(g.ca_not_after)
    .bind(g.verification_code)
    .bind(g.max_devices)
    .bind(g.expires_at)
    .bind(now)
    .fetch_one(db)
    .await?;
    row(&r)
}

pub async fn all(db: &Db) -> sqlx::Result<Vec<GroupRow>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM enrollment_groups ORDER BY id"
    ))
    .fetch_all(db)
    .await?
    .iter()
    .map(row)
    .collect()
}

pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<GroupRow>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM enrollment_groups WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// `unverified` → `active`; false when the group was not unverified.
pub async fn activate(db: &Db, id: i64, now: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE enrollment_groups SET status = 'active', verified_at = $1 \
         WHERE id = $2 AND status = 'unverified'",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// What revoking a group cut off.
pub struct GroupRevoked {
    /// Devices revoked with it.
    pub devices: Vec<i64>,
    pub tokens: Vec<RevokedToken>,
}

/// Revokes the group and, with `with_devices`, every active device
/// registered through it, in one transaction; `None` when there is no
/// such group.
pub async fn revoke(
    db: &Db,
    id: i64,
    with_devices: bool,
    now: i64,
    audit: Audited,
) -> sqlx::Result<Option<GroupRevoked>> {
    let mut tx = db.begin().await?;
    let found = sqlx::query(
        "UPDATE enrollment_groups SET status = 'revoked', revoked_at = COALESCE(revoked_at, $1) \
         WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if found == 0 {
        return Ok(None);
    }
    let mut out = GroupRevoked {
        devices: Vec::new(),
        tokens: Vec::new(),
    };
    if with_devices {
        let ids: Vec<i64> = sqlx::query(
            "SELECT id FROM devices WHERE group_id = $1 AND status = 'active' ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<sqlx::Result<_>>()?;
        for device in ids {
            if let Some(tokens) = devices::revoke_in(&mut tx, device, now).await? {
                out.tokens.extend(tokens);
                out.devices.push(device);
            }
        }
    }
    Audit::record_in(&mut tx, &audit).await?;
    tx.commit().await?;
    Ok(Some(out))
}

/// How a registration ended.
pub enum Outcome {
    /// A new device.
    Created(DeviceRow),
    /// This certificate was registered already (by a request that won a
    /// race with this one, say): the same device.
    Existing(DeviceRow),
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The group takes no registration: revoked, past its deadline, or full.
    #[error("the enrollment group takes no more registrations")]
    Closed,
    /// Another certificate holds this registration id.
    #[error("the registration id is taken")]
    Taken,
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Registers a device through group `group_id` in one transaction: the
/// group's count goes up only while it is active, in date and under its
/// limit (one conditional UPDATE, so concurrent registrations never pass
/// the limit), then the device is inserted. Two registrations of one
/// certificate at once make one device: the loser's insert breaks the
/// unique thumbprint, rolls back (count included) and answers the winner's
/// device.
pub async fn register(
    db: &Db,
    group_id: i64,
    new: &NewDevice<'_>,
    now: i64,
    audit: impl FnOnce(&DeviceRow) -> Audited,
) -> Result<Outcome, RegisterError> {
    let mut tx = db.begin().await?;
    let counted = sqlx::query(
        "UPDATE enrollment_groups SET registered = registered + 1 \
         WHERE id = $1 AND status = 'active' AND (expires_at IS NULL OR expires_at > $2) \
         AND (max_devices IS NULL OR registered < max_devices)",
    )
    .bind(group_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if counted == 0 {
        tx.rollback().await?;
        // A registration that won a race may have filled the group: the
        // same certificate gets its device all the same.
        return match devices::by_thumbprint(db, new.cert_sha256).await? {
            Some(d) => Ok(Outcome::Existing(d)),
            None => Err(RegisterError::Closed),
        };
    }
    debug_assert_eq!(new.enrollment, Enrollment::Group);
    match devices::insert(&mut tx, new, now).await {
        Ok(device) => {
            Audit::record_in(&mut tx, &audit(&device)).await?;
            tx.commit().await?;
            Ok(Outcome::Created(device))
        }
        Err(e) if db::is_unique_violation(&e) => {
            tx.rollback().await?;
            match devices::by_thumbprint(db, new.cert_sha256).await? {
                Some(d) => Ok(Outcome::Existing(d)),
                None => Err(RegisterError::Taken),
            }
        }
        Err(e) => Err(e.into()),
    }
}
