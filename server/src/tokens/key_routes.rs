//! `GET /api/v1/keys` and `POST /api/v1/keys/rotate` (admin). The public
//! keys themselves are at `/.well-known/jwks.json` (see `web`).

use app::types::SigningKey;
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{keys::KeyInfo, Tokens};
use crate::{
    audit::{Audit, Entry, Event},
    db,
    error::{ApiError, ApiResult},
    extract::AdminUser,
    openapi::{Conflict, Forbidden, Unauthorized},
};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Tokens: FromRef<S>,
    Audit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(rotate))
}

fn shown(k: KeyInfo) -> SigningKey {
    SigningKey {
        kid: k.kid,
        status: if k.current { "current" } else { "retired" }.into(),
        created_at: db::rfc3339(k.created_at),
        retired_at: k.retired_at.map(db::rfc3339),
        verify_until: k.verify_until.map(db::rfc3339),
    }
}

/// The signing keys, newest first: the current one, and retired ones still
/// verifying the tokens they signed.
#[utoipa::path(get, path = "/v1/keys", tag = "tokens", operation_id = "list_signing_keys",
    responses((status = 200, body = Vec<SigningKey>), Unauthorized, Forbidden),
    security(("token" = []), ("bearer" = [])))]
async fn list(State(tokens): State<Tokens>, _admin: AdminUser) -> ApiResult<Json<Vec<SigningKey>>> {
    let keys = tokens.signing_keys().await?;
    Ok(Json(keys.into_iter().map(shown).collect()))
}

/// Makes a new signing key current, on every instance. Tokens signed by
/// the old one stay valid until they expire; the old key leaves the JWKS
/// after that. 409 when another rotation is under way at the same moment.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "tokens", operation_id = "rotate_signing_key",
    responses((status = 201, body = SigningKey, description = "the new current key"),
        Unauthorized, Forbidden, Conflict),
    security(("token" = []), ("bearer" = [])))]
async fn rotate(
    State(tokens): State<Tokens>,
    State(audit): State<Audit>,
    AdminUser(admin): AdminUser,
) -> ApiResult<(StatusCode, Json<SigningKey>)> {
    let Some(kid) = tokens.rotate_keys().await? else {
        return Err(ApiError::Conflict(
            "another rotation happened at the same moment; list the keys and try again".into(),
        ));
    };
    audit
        .record(
            Entry::new(Event::KeysRotated)
                .actor(admin.actor())
                .subject(format!("key:{kid}")),
        )
        .await?;
    let key = tokens
        .signing_keys()
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the new key {kid} is not listed")))?;
    Ok((StatusCode::CREATED, Json(shown(key))))
}
