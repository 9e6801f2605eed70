//! SQL of the devices list: search, state filters, any order, and a
//! keyset cursor that pages through that order.
//! Paging by key, not by offset: a page costs the same at the 10,000th
//! device as at the first, and a device enrolled meanwhile never shifts
//! the next page.

use app::types::{DeviceFilter, DeviceSort, SortOrder};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{
    db::Db,
    devices::store::{self, DeviceRow, LISTED},
    sql::{self, Conditions, Value},
};

/// What one request asks of the list, checked.
pub struct Listing {
    /// Text the registration id or the name contains.
    pub search: Option<String>,
    /// The filter, and for online/offline the time (seconds) from which a
    /// device counts as seen.
    pub state: Option<(DeviceFilter, i64)>,
    pub expiring_before: Option<i64>,
    pub sort: DeviceSort,
    pub order: SortOrder,
    /// Devices after this one in the order.
    pub after: Option<Cursor>,
}

/// Where a page ended: the last device's sort key and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    sort: DeviceSort,
    #[serde(rename = "k")]
    key: Key,
    id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Key {
    Int(i64),
    Text(String),
}

impl Cursor {
    /// The id order's cursor, as the contract's `after=` gives it.
    pub fn after_id(id: i64) -> Cursor {
        Cursor {
            sort: DeviceSort::Id,
            key: Key::Int(id),
            id,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// A cursor this list gave for `sort`; anything else is `None`.
    pub fn decode(text: &str, sort: DeviceSort) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let c: Cursor = serde_json::from_slice(&bytes).ok()?;
        let textual = matches!(c.key, Key::Text(_));
        (c.sort == sort && textual == sorts_text(sort)).then_some(c)
    }
}

fn sorts_text(sort: DeviceSort) -> bool {
    matches!(
        sort,
        DeviceSort::RegistrationId | DeviceSort::Name | DeviceSort::Status
    )
}

/// The SQL expression the order sorts by.
fn key_expr(sort: DeviceSort) -> &'static str {
    match sort {
        DeviceSort::Id => "id",
        DeviceSort::RegistrationId => "registration_id",
        DeviceSort::Name => "lower(name)",
        DeviceSort::Status => "status",
        DeviceSort::LastSeen => "COALESCE(last_seen, 0)",
        DeviceSort::CreatedAt => "created_at",
    }
}

/// The listing's filters (not where its page starts).
fn filters(l: &Listing) -> Conditions {
    let mut c = Conditions::default();
    if let Some(text) = &l.search {
        sql::any_contains(&mut c, &["registration_id", "name"], text);
    }
    match l.state {
        None => {}
        Some((DeviceFilter::Active, _)) => c.push("status = 'active'"),
        Some((DeviceFilter::Revoked, _)) => c.push("status = 'revoked'"),
        Some((DeviceFilter::Online, since)) => {
            let n = c.int(since);
            c.push(format!("status = 'active' AND last_seen >= {n}"));
        }
        Some((DeviceFilter::Offline, since)) => {
            let n = c.int(since);
            c.push(format!(
                "status = 'active' AND (last_seen IS NULL OR last_seen < {n})"
            ));
        }
    }
    if let Some(before) = l.expiring_before {
        let n = c.int(before);
        c.push(format!(
            "status = 'active' AND cert_not_after IS NOT NULL AND cert_not_after < {n}"
        ));
    }
    c
}

/// At most `limit` devices of the listing, in its order, each with the
/// newest reading of its sensors and the cursor that follows it.
pub async fn page(db: &Db, l: &Listing, limit: i64) -> sqlx::Result<Vec<(DeviceRow, Cursor)>> {
    let mut c = filters(l);
    let key = key_expr(l.sort);
    let (cmp, dir) = match l.order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    if let Some(after) = &l.after {
        let k = c.value(match &after.key {
            Key::Int(i) => Value::Int(*i),
            Key::Text(t) => Value::Text(t.clone()),
        });
        let id = c.int(after.id);
        c.push(format!(
            "({key} {cmp} {k} OR ({key} = {k} AND id {cmp} {id}))"
        ));
    }
    let n = c.int(limit);
    let sql = format!(
        "SELECT {LISTED}, {key} AS sort_key FROM devices {} \
         ORDER BY sort_key {dir}, id {dir} LIMIT {n}",
        c.where_clause()
    );
    let rows = c.bind(sqlx::query(&sql)).fetch_all(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let device = store::row(r)?;
        let key = if sorts_text(l.sort) {
            Key::Text(r.try_get("sort_key")?)
        } else {
            Key::Int(r.try_get("sort_key")?)
        };
        let cursor = Cursor {
            sort: l.sort,
            key,
            id: device.device.id,
        };
        out.push((device, cursor));
    }
    let ids: Vec<i64> = out.iter().map(|(d, _)| d.device.id).collect();
    let mut latest = store::latest_of(db, &ids).await?;
    for (d, _) in &mut out {
        d.device.latest = latest.remove(&d.device.id).unwrap_or_default();
    }
    Ok(out)
}

/// How many devices the listing's filters match, on every page.
pub async fn count(db: &Db, l: &Listing) -> sqlx::Result<i64> {
    let c = filters(l);
    let sql = format!("SELECT COUNT(*) FROM devices {}", c.where_clause());
    c.bind(sqlx::query(&sql)).fetch_one(db).await?.try_get(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_for_the_order_that_gave_it() {
        let c = Cursor {
            sort: DeviceSort::Name,
            key: Key::Text("boiler ü".into()),
            id: 7,
        };
        let text = c.encode();
        assert_eq!(Cursor::decode(&text, DeviceSort::Name), Some(c));
        assert_eq!(Cursor::decode(&text, DeviceSort::LastSeen), None);
        assert_eq!(Cursor::decode("not base64!", DeviceSort::Name), None);
        // A key of the wrong kind for the order is refused.
        let wrong = Cursor {
            sort: DeviceSort::LastSeen,
            key: Key::Text("x".into()),
            id: 1,
        };
        assert_eq!(Cursor::decode(&wrong.encode(), DeviceSort::LastSeen), None);
    }
}
