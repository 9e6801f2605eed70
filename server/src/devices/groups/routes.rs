//! `/api/v1/enrollment-groups` (admin): create, list, show, verify, revoke.

use app::types::{EnrollmentGroup, NewEnrollmentGroup, RevokeGroup, VerifyGroup};
use axum::{
    body::Bytes,
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use rand::RngCore;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ca, store};
use crate::{
    audit::{Audit, Entry as Audited, Event},
    db,
    devices::{parse_name, DeviceError, Devices},
    error::{ApiError, ApiResult},
    extract::{AdminUser, ApiJson, ApiPath},
    openapi::{BadBody, BadRequest, Conflict, Forbidden, NotFound, Unauthorized},
    tokens::Tokens,
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Devices: FromRef<S>,
    Tokens: FromRef<S>,
    Audit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(verify))
        .routes(routes!(revoke))
}

/// At most this many devices in a group's limit.
const MAX_LIMIT: i64 = 10_000_000;

#[utoipa::path(get, path = "/v1/enrollment-groups", tag = "enrollment groups",
    operation_id = "list_enrollment_groups",
    responses((status = 200, body = Vec<EnrollmentGroup>), Unauthorized, Forbidden),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(devices): State<Devices>,
    _admin: AdminUser,
) -> ApiResult<Json<Vec<EnrollmentGroup>>> {
    let rows = store::all(&devices.0.db).await?;
    Ok(Json(rows.into_iter().map(|r| r.group).collect()))
}

#[utoipa::path(get, path = "/v1/enrollment-groups/{id}", tag = "enrollment groups",
    operation_id = "show_enrollment_group",
    params(("id" = i64, Path, description = "group id")),
    responses((status = 200, body = EnrollmentGroup), Unauthorized, Forbidden, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn show(
    State(devices): State<Devices>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<EnrollmentGroup>> {
    let row = store::get(&devices.0.db, id)
        .await?
        .ok_or(DeviceError::NoGroup)?;
    Ok(Json(row.group))
}

/// Creates a group, `unverified`: it takes registrations only once
/// verified. Its CA must be a CA certificate in its validity period, and
/// no other live group may have it.
#[utoipa::path(post, path = "/v1/enrollment-groups", tag = "enrollment groups",
    operation_id = "create_enrollment_group",
    request_body = NewEnrollmentGroup,
    responses((status = 201, body = EnrollmentGroup), Unauthorized, Forbidden, BadBody, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn create(
    State(devices): State<Devices>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<NewEnrollmentGroup>,
) -> ApiResult<(StatusCode, Json<EnrollmentGroup>)> {
    let now = db::now();
    let name = parse_name(&body.name)?;
    let ca = ca::parse_ca(&body.ca_pem, now)?;
    if let Some(n) = body.max_devices {
        if !(1..=MAX_LIMIT).contains(&n) {
            return Err(ApiError::validation(format!(
                "max_devices must be between 1 and {MAX_LIMIT}"
            )));
        }
    }
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.timestamp())
                .map_err(|_| ApiError::validation("expires_at must be an RFC 3339 time"))
        })
        .transpose()?;
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::validation("expires_at must be in the future"));
    }
    let mut code = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut code);
    let code = hex::encode(code);
    let new = store::NewGroup {
        name,
        ca_pem: body.ca_pem.trim(),
        ca_sha256: &ca.sha256,
        ca_subject: &ca.subject,
        ca_not_after: ca.not_after,
        verification_code: &code,
        max_devices: body.max_devices,
        expires_at,
    };
    let row = match store::insert(&devices.0.db, &new, now).await {
        Ok(row) => row,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(
                "a group that is not revoked already has this CA".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    devices.groups().put(&row);
    audit
        .record(
            Audited::new(Event::GroupCreated)
                .actor(admin.actor())
                .subject(format!("group:{}", row.group.id))
                .detail(format!("{} ({})", row.group.name, row.group.ca_subject)),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(row.group)))
}

/// Proof of possession: a certificate whose subject CN is the group's
/// verification code, signed by the group's CA. The group becomes
/// `active`. Verifying an active group again changes nothing.
#[utoipa::path(post, path = "/v1/enrollment-groups/{id}/verify", tag = "enrollment groups",
    operation_id = "verify_enrollment_group",
    params(("id" = i64, Path, description = "group id")),
    request_body = VerifyGroup,
    responses((status = 200, body = EnrollmentGroup), Unauthorized, Forbidden, BadBody, NotFound,
        Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn verify(
    State(devices): State<Devices>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<VerifyGroup>,
) -> ApiResult<Json<EnrollmentGroup>> {
    let db = &devices.0.db;
    let row = store::get(db, id).await?.ok_or(DeviceError::NoGroup)?;
    if row.group.status == app::types::GroupStatus::Revoked {
        return Err(ApiError::Conflict("the group is revoked".into()));
    }
    let ca_der = pem_der(&row.ca_pem)?;
    ca::check_proof(
        &ca_der,
        &body.certificate_pem,
        &row.group.verification_code,
        db::now(),
    )?;
    if store::activate(db, id, db::now()).await? {
        audit
            .record(
                Audited::new(Event::GroupVerified)
                    .actor(admin.actor())
                    .subject(format!("group:{id}")),
            )
            .await?;
    }
    let row = store::get(db, id).await?.ok_or(DeviceError::NoGroup)?;
    if row.group.status == app::types::GroupStatus::Revoked {
        return Err(ApiError::Conflict("the group is revoked".into()));
    }
    devices.groups().put(&row);
    Ok(Json(row.group))
}

/// The DER of a stored CA PEM.
fn pem_der(pem: &str) -> Result<Vec<u8>, DeviceError> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map(|(_, p)| p.contents)
        .map_err(|_| DeviceError::Internal(anyhow::anyhow!("a stored group CA does not parse")))
}

/// Revokes the group: it takes no more registrations. With
/// `{"devices": true}`, every device registered through it is revoked too
/// (refused at the next handshake, tokens revoked, connections ended).
#[utoipa::path(post, path = "/v1/enrollment-groups/{id}/revoke", tag = "enrollment groups",
    operation_id = "revoke_enrollment_group",
    params(("id" = i64, Path, description = "group id")),
    request_body(content = Option<RevokeGroup>, description = "optional; `{}` or none revokes the group only"),
    responses((status = 204, description = "revoked"), Unauthorized, Forbidden, BadBody, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn revoke(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let body: RevokeGroup = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeGroup::default()
    } else {
        serde_json::from_slice::<Option<RevokeGroup>>(&body)
            .map_err(|e| ApiError::validation(format!("the body is not valid: {e}")))?
            .unwrap_or_default()
    };
    let entry = Audited::new(Event::GroupRevoked)
        .actor(admin.actor())
        .subject(format!("group:{id}"))
        .detail(if body.devices {
            "with its devices"
        } else {
            "devices kept"
        });
    let revoked = store::revoke(&devices.0.db, id, body.devices, tokens.clock().now(), entry)
        .await?
        .ok_or(DeviceError::NoGroup)?;
    tokens.refuse(revoked.tokens);
    for device in revoked.devices {
        devices.index().revoke(device);
    }
    if let Some(row) = store::get(&devices.0.db, id).await? {
        devices.groups().put(&row);
    }
    Ok(StatusCode::NO_CONTENT)
}
