//! `/api/v1/devices/{id}/certificates`: list; add a self-signed
//! certificate's thumbprint; retire one (admin, operator).

use app::types::{AddCertificate, DeviceCertificate, Enrollment};
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{store, MAX_USABLE};
use crate::{
    audit::{Audit, Entry as Audited, Event},
    db,
    devices::{certs, store as devices_store, DeviceError, Devices},
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiPath, AuthUser, OperatorUser},
    openapi::{BadBody, BadRequest, Conflict, Forbidden, NotFound, Unauthorized},
    tokens::Tokens,
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Devices: FromRef<S>,
    Tokens: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(retire))
}

/// A certificate as listed, at `now`.
pub fn shown(c: &store::CertRow, primary: &str, now: i64) -> DeviceCertificate {
    let status = match c.retire_at {
        Some(t) if t <= now => "retired",
        Some(_) => "retiring",
        None => "active",
    };
    DeviceCertificate {
        cert_sha256: c.cert_sha256.clone(),
        kind: c.kind,
        serial: c.serial.clone(),
        not_after: c.not_after.map(db::rfc3339),
        added_at: db::rfc3339(c.added_at),
        first_used_at: c.first_used_at.map(db::rfc3339),
        retire_at: c.retire_at.map(db::rfc3339),
        status: status.into(),
        primary: c.cert_sha256 == primary,
    }
}

async fn listed(devices: &Devices, id: i64, now: i64) -> ApiResult<Vec<DeviceCertificate>> {
    let device = devices_store::get(&devices.0.db, id)
        .await?
        .ok_or(DeviceError::NotFound)?;
    let mut certs = store::of_device(&devices.0.db, id).await?;
    // Newest first; within one second, the primary (the newest) first.
    let primary = device.device.cert_sha256.as_str();
    certs.sort_by_key(|c| (std::cmp::Reverse(c.added_at), c.cert_sha256 != primary));
    Ok(certs.iter().map(|c| shown(c, primary, now)).collect())
}

/// The device's certificates, newest first.
#[utoipa::path(get, path = "/v1/devices/{id}/certificates", tag = "devices",
    operation_id = "list_device_certificates",
    params(("id" = i64, Path, description = "device id")),
    responses((status = 200, body = Vec<DeviceCertificate>), Unauthorized, BadRequest, NotFound),
    security(("token" = []), ("bearer" = [])))]
async fn list(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<DeviceCertificate>>> {
    Ok(Json(listed(&devices, id, tokens.clock().now()).await?))
}

/// Adds another self-signed certificate by its thumbprint, for a device
/// enrolled by thumbprint (a CA-issued one renews with a CSR instead).
/// Both work until one is retired.
#[utoipa::path(post, path = "/v1/devices/{id}/certificates", tag = "devices",
    operation_id = "add_device_certificate",
    params(("id" = i64, Path, description = "device id")),
    request_body = AddCertificate,
    responses((status = 201, body = DeviceCertificate), Unauthorized, Forbidden, BadBody,
        NotFound, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn add(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    OperatorUser(user): OperatorUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AddCertificate>,
) -> ApiResult<(StatusCode, Json<DeviceCertificate>)> {
    let thumbprint = certs::parse_thumbprint(&body.cert_sha256).map_err(DeviceError::from)?;
    let now = tokens.clock().now();
    let device = devices_store::get(&devices.0.db, id)
        .await?
        .ok_or(DeviceError::NotFound)?;
    if device.device.status != app::types::DeviceStatus::Active {
        return Err(ApiError::Conflict("the device is revoked".into()));
    }
    if device.device.enrollment != Enrollment::SelfSigned {
        return Err(ApiError::Conflict(
            "only a device enrolled by thumbprint takes another thumbprint; \
             a CA-issued certificate is renewed with POST /device/v1/certificate"
                .into(),
        ));
    }
    let mut tx = devices.0.db.begin().await?;
    // One certificate change of a device at a time.
    if !store::lock_device(&mut tx, id).await? {
        return Err(DeviceError::NotFound.into());
    }
    let new = store::NewCert {
        cert_sha256: &thumbprint,
        device_id: id,
        kind: Enrollment::SelfSigned,
        serial: None,
        not_after: None,
        first_used_at: Some(now),
    };
    match store::insert(&mut tx, &new, now).await {
        Ok(()) => {}
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(
                "this certificate is already a device's".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    // Counted after the insert (a write first: see `store`), with it.
    if store::usable_count(&mut tx, id, now).await? > MAX_USABLE {
        return Err(ApiError::Conflict(format!(
            "a device holds at most {MAX_USABLE} certificates at once; retire one first"
        )));
    }
    Audit::record_in(
        &mut tx,
        &Audited::new(Event::CertificateAdded)
            .actor(user.actor())
            .subject(format!("device:{id}"))
            .detail(thumbprint.clone()),
    )
    .await?;
    tx.commit().await?;
    devices.reload(id).await?;
    let shown = listed(&devices, id, now)
        .await?
        .into_iter()
        .find(|c| c.cert_sha256 == thumbprint)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an added certificate is not listed")))?;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// Retires one of the device's certificates now: refused at the next
/// handshake, its open connections ended, the tokens bound to it revoked.
/// A device keeps at least one certificate (409).
#[utoipa::path(delete, path = "/v1/devices/{id}/certificates/{sha256}", tag = "devices",
    operation_id = "retire_device_certificate",
    params(("id" = i64, Path, description = "device id"),
        ("sha256" = String, Path, description = "the certificate's thumbprint")),
    responses((status = 204, description = "retired"), Unauthorized, Forbidden, BadRequest,
        NotFound, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn retire(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    OperatorUser(user): OperatorUser,
    ApiPath((id, sha256)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    // What is not a thumbprint names no certificate.
    let thumbprint =
        certs::parse_thumbprint(&sha256).map_err(|_| ApiError::not_found("certificate"))?;
    let now = tokens.clock().now();
    let mut tx = devices.0.db.begin().await?;
    // One certificate change of a device at a time (two retirements at
    // once must not leave it with none).
    if !store::lock_device(&mut tx, id).await? {
        return Err(DeviceError::NotFound.into());
    }
    if !store::retire_of(&mut tx, id, &thumbprint, now).await? {
        return if store::belongs(&mut tx, id, &thumbprint).await? {
            Ok(StatusCode::NO_CONTENT) // retired already
        } else {
            Err(ApiError::not_found("certificate"))
        };
    }
    let Some(next) = store::newest_usable(&mut tx, id, now).await? else {
        return Err(ApiError::Conflict(
            "a device keeps at least one certificate: add or renew another first, \
             or revoke the device"
                .into(),
        ));
    };
    if store::primary(&mut tx, id).await?.as_deref() == Some(thumbprint.as_str()) {
        store::make_primary(&mut tx, id, &next).await?;
    }
    Audit::record_in(
        &mut tx,
        &Audited::new(Event::CertificateRetired)
            .actor(user.actor())
            .subject(format!("device:{id}"))
            .detail(thumbprint),
    )
    .await?;
    tx.commit().await?;
    devices.reload(id).await?;
    devices.settle_retired(&tokens).await;
    Ok(StatusCode::NO_CONTENT)
}
