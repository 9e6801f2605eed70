//! `GET /api/v1/devices`: the devices list, filtered, searched, in any
//! order, a page at a time (`store` holds its SQL and the cursor).

mod store;

use app::types::{Device, DeviceFilter, DeviceSort, SortOrder};
use axum::{extract::State, response::Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::Devices;
use crate::{
    error::{ApiError, ApiResult},
    extract::{ApiQuery, AuthUser},
    openapi::{BadRequest, Unauthorized},
    paging,
    tokens::Tokens,
};
use store::{Cursor, Listing};

/// The devices list's query: filters, order, and where the page starts.
#[derive(Deserialize, Serialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
    /// Devices with an id above this one (the id order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<i64>,
    /// Only active devices whose certificate expires within this long
    /// (e.g. `30d`, `12h`); certificates whose end is not known yet (a
    /// self-signed one never used) are not listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring_within: Option<String>,
    /// Only devices whose registration id or name contains this
    /// (case-insensitive, at most 128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    /// Only devices in this state; `online`/`offline` are active devices
    /// seen, or not, within `within` seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<DeviceFilter>,
    /// Seconds that count as online (default 300).
    #[param(minimum = 10, maximum = 604800)]
    #[serde(skip_serializing_if = "Option::is_none")]
    within: Option<i64>,
    /// The order (default `id`); ties go by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    sort: Option<DeviceSort>,
    /// `asc` (default) or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<SortOrder>,
    /// Where the previous page of this order ended, from its `Link`.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

const MAX_PAGE: i64 = 1000;
/// `within` by default and its bounds, as the summary's `online_within`.
const ONLINE_WITHIN: (i64, i64, i64) = (300, 10, 7 * 86_400);
const MAX_SEARCH: usize = 128;

impl ListQuery {
    fn listing(&self, now: i64) -> ApiResult<Listing> {
        let expiring_before = match self.expiring_within.as_deref() {
            None => None,
            Some(w) => Some(
                now + humantime::parse_duration(w)
                    .ok()
                    .and_then(|d| i64::try_from(d.as_secs()).ok())
                    .filter(|s| *s <= 100 * 365 * 86_400)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "expiring_within must be a duration such as 30d or 12h",
                        )
                    })?,
            ),
        };
        let (default_within, min, max) = ONLINE_WITHIN;
        let within = self.within.unwrap_or(default_within);
        if !(min..=max).contains(&within) {
            return Err(ApiError::bad_request(format!(
                "within must be between {min} and {max} seconds"
            )));
        }
        let search = match self.q.as_deref().map(str::trim) {
            Some(q) if q.chars().count() > MAX_SEARCH => {
                return Err(ApiError::bad_request(format!(
                    "q must be at most {MAX_SEARCH} characters"
                )))
            }
            Some(q) if !q.is_empty() => Some(q.to_owned()),
            _ => None,
        };
        let (sort, order) = (
            self.sort.unwrap_or(DeviceSort::Id),
            self.order.unwrap_or(SortOrder::Asc),
        );
        let after = match (&self.cursor, self.after) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("give after or cursor, not both"))
            }
            (Some(c), None) => Some(Cursor::decode(c, sort).ok_or_else(|| {
                ApiError::bad_request("cursor is not one this list gave for this order")
            })?),
            (None, Some(_)) if (sort, order) != (DeviceSort::Id, SortOrder::Asc) => {
                return Err(ApiError::bad_request(
                    "after pages the id order; other orders page with cursor",
                ))
            }
            (None, Some(id)) => Some(Cursor::after_id(id)),
            (None, None) => None,
        };
        Ok(Listing {
            search,
            state: self.status.map(|s| (s, now - within)),
            expiring_before,
            sort,
            order,
            after,
        })
    }

    /// This query for the page after `last`: the id order keeps the
    /// contract's `after=`, any other order carries a cursor.
    fn next(&self, limit: i64, last: &Cursor, id: i64) -> String {
        let id_order = self.sort.unwrap_or(DeviceSort::Id) == DeviceSort::Id
            && self.order.unwrap_or(SortOrder::Asc) == SortOrder::Asc;
        let next = ListQuery {
            limit: Some(limit),
            after: id_order.then_some(id),
            cursor: (!id_order).then(|| last.encode()),
            expiring_within: self.expiring_within.clone(),
            q: self.q.clone(),
            status: self.status,
            within: self.within,
            sort: self.sort,
            order: self.order,
        };
        paging::with_query("/api/v1/devices", &next)
    }
}

/// Devices with the newest reading of each sensor, filtered and in the
/// order asked (id by default). While more remain, `Link: <...>;
/// rel="next"` gives the next page; `x-total-count` counts every page.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", operation_id = "list_devices",
    params(ListQuery),
    responses((status = 200, body = Vec<Device>,
        headers(("link" = String, description = "the next page, while more remain"),
            ("x-total-count" = i64, description = "devices the filters match, on every page"))),
        Unauthorized, BadRequest),
    security(("token" = []), ("bearer" = [])))]
pub(super) async fn list(
    State(devices): State<Devices>,
    State(tokens): State<Tokens>,
    _user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let l = q.listing(tokens.clock().now())?;
    let db = &devices.0.db;
    let mut rows = store::page(db, &l, limit + 1).await?;
    let total = store::count(db, &l).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = rows
        .last()
        .filter(|_| more)
        .map(|(d, c)| q.next(limit, c, d.device.id));
    let page: Vec<Device> = rows.into_iter().map(|(r, _)| r.device).collect();
    Ok(paging::paged(page, next, total))
}
