//! SQL of ingestion: the group commit's statements, and the sensors a
//! device has used.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use crate::{
    db::{self, Db, Engine},
    readings::Reading,
};

/// Rows per INSERT statement (6 parameters each, under every engine's limit).
const ROWS_PER_STATEMENT: usize = 500;

/// Stores the batches in one transaction: the readings, and the newest
/// reading of each (device, sensor) in `latest_readings`.
pub async fn commit(db: &Db, engine: Engine, batches: &[&[Reading]]) -> sqlx::Result<()> {
    let received_at = db::now();
    let mut tx = db.begin().await?;
    let all: Vec<&Reading> = batches.iter().flat_map(|b| b.iter()).collect();
    for chunk in all.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql(chunk.len(), engine);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.device_id)
                .bind(&r.sensor)
                .bind(r.value)
                .bind(&r.unit)
                .bind(r.ts)
                .bind(received_at);
        }
        q.execute(&mut *tx).await?;
    }
    // The newest reading per (device, sensor) of this commit, once each.
    let mut newest: HashMap<(i64, &str), &Reading> = HashMap::new();
    for r in &all {
        let slot = newest.entry((r.device_id, r.sensor.as_str())).or_insert(r);
        if r.ts >= slot.ts {
            *slot = r;
        }
    }
    let newest: Vec<&Reading> = newest.into_values().collect();
    for chunk in newest.chunks(ROWS_PER_STATEMENT) {
        let sql = upsert_latest_sql(chunk.len(), engine);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.device_id)
                .bind(&r.sensor)
                .bind(r.value)
                .bind(&r.unit)
                .bind(r.ts);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Keeps `latest_readings` at the newest reading of each sensor.
fn upsert_latest_sql(rows: usize, engine: Engine) -> String {
    format!(
        "INSERT INTO latest_readings (device_id, sensor, value, unit, ts) VALUES {} \
         ON CONFLICT (device_id, sensor) DO UPDATE SET value = excluded.value, unit = excluded.unit, ts = excluded.ts \
         WHERE excluded.ts >= latest_readings.ts",
        values(rows, 5, engine)
    )
}

/// A multi-row INSERT. SQLite gets anonymous `?` placeholders: it looks
/// numbered ones up by a linear scan per parameter, which made a 3000-
/// parameter statement spend most of its time finding names.
fn insert_sql(rows: usize, engine: Engine) -> String {
    format!(
        "INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) VALUES {}",
        values(rows, 6, engine)
    )
}

/// `(…), (…)` placeholders for `rows` rows of `cols` values.
fn values(rows: usize, cols: usize, engine: Engine) -> String {
    (0..rows)
        .map(|i| {
            let cells: Vec<String> = (1..=cols)
                .map(|c| match engine {
                    Engine::Sqlite => "?".to_owned(),
                    Engine::Postgres => format!("${}", i * cols + c),
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every sensor name a device has sent.
pub async fn sensors(db: &Db, device_id: i64) -> sqlx::Result<HashSet<String>> {
    let rows = sqlx::query("SELECT sensor FROM latest_readings WHERE device_id = $1")
        .bind(device_id)
        .fetch_all(db)
        .await?;
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::{insert_sql, Engine};

    #[test]
    fn placeholders_suit_each_engine() {
        let head = "INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) VALUES ";
        assert_eq!(
            insert_sql(2, Engine::Postgres),
            format!("{head}($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)")
        );
        assert_eq!(
            insert_sql(2, Engine::Sqlite),
            format!("{head}(?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)")
        );
    }
}
