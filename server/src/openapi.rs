//! The OpenAPI 3.1 description of both APIs (`GET /api/v1/openapi.json`).
//! It is generated from the same registrations as the route tables
//! (utoipa-axum's `OpenApiRouter`), so a route cannot exist without being
//! described. This module holds what the operations share: the document's
//! header, the two ways to carry a token, and the error answers each
//! operation lists.

use std::collections::BTreeMap;

use app::types::{DeviceFilter, DeviceSort, ErrorBody, SortOrder, TokenKind, TokenState};
use utoipa::{
    openapi::{
        self,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr, ResponseBuilder,
    },
    IntoResponses, Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil",
        description = "A secure IoT platform: the user API (north, `/api/v1`) and the device \
                       API over mutual TLS (south, `/device/v1`). Errors are \
                       `{\"error\": code, \"message\": text}`.",
    ),
    // The enums only query parameters name (a response's own types are
    // collected from the operations).
    components(schemas(ErrorBody, DeviceFilter, DeviceSort, SortOrder, TokenKind, TokenState)),
    modifiers(&TokenSchemes),
)]
pub struct ApiDoc;

/// `x-access-token: <jwt>` or `Authorization: Bearer <jwt>`: either works.
struct TokenSchemes;

impl Modify for TokenSchemes {
    fn modify(&self, api: &mut openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-access-token"))),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn error(description: &str) -> RefOr<openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// Declares a set of error answers an operation can give, to be listed in
/// its `responses(...)`.
macro_rules! errors {
    ($($(#[$doc:meta])* $name:ident { $($status:literal => $text:literal,)+ })+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
                    BTreeMap::from([$(($status.to_string(), error($text)),)+])
                }
            }
        )+
    };
}

errors! {
    /// Behind the gateway: no token, or one that does not hold.
    Unauthorized {
        "401" => "token_missing, token_invalid, token_expired or token_revoked",
    }
    /// A role check.
    Forbidden {
        "403" => "forbidden: the caller's role does not allow it",
    }
    /// A path or query that does not parse.
    BadRequest {
        "400" => "validation_failed: a malformed path or query",
    }
    /// A JSON body: malformed, invalid or too large.
    BadBody {
        "400" => "validation_failed: malformed JSON or a wrong content type",
        "413" => "payload_too_large",
        "422" => "validation_failed: a field is missing or invalid",
    }
    NotFound {
        "404" => "not_found",
    }
    Conflict {
        "409" => "conflict",
    }
}
