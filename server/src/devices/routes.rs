//! `/api/v1/devices`: list, enroll, show, revoke, revoke tokens.

use app::types::{Device, EnrollRequest, EnrollResponse};
use axum::{extract::State, http::StatusCode, Json};

use crate::{
    api::{ApiJson, ApiPath},
    audit::{Entry as Audit, Event},
    auth::gateway::{AdminUser, AuthUser, OperatorUser},
    db,
    devices::{certs, index::Entry, parse_name, parse_registration_id, store},
    error::{ApiError, ApiResult},
    state::AppState,
    tokens::store as tokens,
};

/// A CSR is a few hundred bytes; this bounds the parsing work.
const MAX_CSR: usize = 16 * 1024;

pub async fn list(State(state): State<AppState>, _user: AuthUser) -> ApiResult<Json<Vec<Device>>> {
    Ok(Json(
        store::all(&state.db)
            .await?
            .into_iter()
            .map(|r| r.device)
            .collect(),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Device>> {
    let row = store::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    Ok(Json(row.device))
}

pub async fn enroll(
    State(state): State<AppState>,
    OperatorUser(user): OperatorUser,
    ApiJson(body): ApiJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<EnrollResponse>)> {
    let registration_id = parse_registration_id(&body.registration_id)?;
    let name = parse_name(&body.name)?;
    let (thumbprint, serial, enrollment, certificate_pem) = match (&body.cert_sha256, &body.csr_pem)
    {
        (Some(t), None) => (certs::parse_thumbprint(t)?, None, "self_signed", None),
        (None, Some(csr)) if csr.len() <= MAX_CSR => {
            let issued =
                state
                    .device_ca
                    .sign_csr(csr, registration_id, state.settings.device_cert_days)?;
            (
                issued.thumbprint,
                Some(issued.serial),
                "ca_issued",
                Some(issued.pem),
            )
        }
        (None, Some(_)) => return Err(ApiError::validation("csr_pem is too large")),
        _ => {
            return Err(ApiError::validation(
                "give exactly one of cert_sha256 (self-signed) or csr_pem",
            ))
        }
    };
    let new = store::NewDevice {
        registration_id,
        name,
        cert_sha256: &thumbprint,
        cert_serial: serial.as_deref(),
        enrollment,
    };
    let row = match store::insert(&state.db, &new, db::now()).await {
        Ok(row) => row,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(ApiError::Conflict(
                "this registration id or certificate is already enrolled".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    state.devices.insert(
        thumbprint,
        Entry {
            id: row.device.id,
            active: true,
            ca_issued: serial.is_some(),
            serial: row.serial.clone(),
        },
    );
    Audit::new(Event::DeviceEnrolled)
        .actor(user.actor())
        .subject(format!("device:{}", row.device.id))
        .detail(format!("{registration_id} ({enrollment})"))
        .record(&state)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            device: row.device,
            certificate_pem,
        }),
    ))
}

/// Refused at the next handshake, tokens blacklisted, open connections ended.
pub async fn revoke(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let tokens = store::revoke(&state.db, id, db::now())
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    state.revoked.extend(tokens);
    state.devices.revoke(id);
    Audit::new(Event::DeviceRevoked)
        .actor(admin.actor())
        .subject(format!("device:{id}"))
        .record(&state)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_tokens(
    State(state): State<AppState>,
    OperatorUser(user): OperatorUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    store::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    let tokens = tokens::blacklist_owner(
        &state.db,
        tokens::Owner::Device(id),
        "admin_revoked",
        db::now(),
    )
    .await?;
    state.revoked.extend(tokens);
    Audit::new(Event::DeviceTokensRevoked)
        .actor(user.actor())
        .subject(format!("device:{id}"))
        .record(&state)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
