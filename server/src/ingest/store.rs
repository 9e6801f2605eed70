//! SQL of ingestion: the group commit's statements, and the sensors a
//! device has used.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet},
    sync::LazyLock,
};

use sqlx::{Connection, PgConnection, Row, SqliteConnection};

use crate::{
    db::{self, Db, Direct},
    readings::Reading,
};

/// Rows per SQLite INSERT statement (6 parameters each, under its limit).
const SQLITE_ROWS: usize = 500;
/// Rows per PostgreSQL INSERT: each is one statement whose trigger
/// announces its ids to the other instances (`feed::readings`), so it is
/// bounded, but arrays take any number of rows in six parameters.
const POSTGRES_ROWS: usize = 2000;

/// A commit that failed, and whether COMMIT had been sent: before it,
/// nothing of the batches is stored and they may be written again.
#[derive(Debug)]
pub struct Failed {
    pub error: sqlx::Error,
    pub commit_sent: bool,
}

/// Minutes of `reading_counts` kept: two days.
const COUNTS_KEPT_MINUTES: i64 = 2 * 24 * 60;

/// The writer's own row of `reading_counts`, and the minute it last
/// deleted old rows in.
pub struct Counts<'a> {
    pub instance: &'a str,
    pub pruned_minute: i64,
}

/// Stores the batches in one transaction: the readings, the newest
/// reading of each (device, sensor) in `latest_readings`, and their number
/// in this minute's row of `reading_counts` (once a minute, the rows past
/// two days go).
pub async fn commit(
    conn: &mut Direct,
    counts: &mut Counts<'_>,
    batches: &[&[Reading]],
) -> Result<(), Failed> {
    let received_at = db::now();
    let all: Vec<&Reading> = batches.iter().flat_map(|b| b.iter()).collect();
    let newest = newest(&all);
    let minute = received_at.div_euclid(60);
    let tally = Tally {
        instance: counts.instance,
        minute,
        count: all.len() as i64,
        prune_before: (minute != counts.pruned_minute).then(|| minute - COUNTS_KEPT_MINUTES),
    };
    match conn {
        Direct::Sqlite(conn) => sqlite_commit(conn, &all, &newest, &tally, received_at).await?,
        Direct::Postgres(conn) => postgres_commit(conn, &all, &newest, &tally, received_at).await?,
    }
    counts.pruned_minute = minute;
    Ok(())
}

/// One commit's line in `reading_counts`.
struct Tally<'a> {
    instance: &'a str,
    minute: i64,
    count: i64,
    prune_before: Option<i64>,
}

/// Adds a commit's readings to its minute (the same text on both
/// engines: SQLite takes `$n` too).
const COUNT: &str = "INSERT INTO reading_counts (minute, instance, count) VALUES ($1, $2, $3) \
     ON CONFLICT (minute, instance) DO UPDATE SET count = reading_counts.count + excluded.count";
const PRUNE_COUNTS: &str = "DELETE FROM reading_counts WHERE minute < $1";

/// The tally's statements, on a transaction of either engine.
macro_rules! tally {
    ($tx:expr, $tally:expr) => {{
        let t: &Tally = $tally;
        sqlx::query(COUNT)
            .bind(t.minute)
            .bind(t.instance)
            .bind(t.count)
            .execute(&mut *$tx)
            .await
            .map_err(before_commit)?;
        if let Some(before) = t.prune_before {
            sqlx::query(PRUNE_COUNTS)
                .bind(before)
                .execute(&mut *$tx)
                .await
                .map_err(before_commit)?;
        }
    }};
}

fn before_commit(error: sqlx::Error) -> Failed {
    Failed {
        error,
        commit_sent: false,
    }
}

fn at_commit(error: sqlx::Error) -> Failed {
    Failed {
        error,
        commit_sent: true,
    }
}

/// The newest reading per (device, sensor) of a commit, once each.
fn newest<'a>(all: &[&'a Reading]) -> Vec<&'a Reading> {
    let mut newest: HashMap<(i64, &str), &Reading> = HashMap::new();
    for r in all {
        let slot = newest.entry((r.device_id, r.sensor.as_str())).or_insert(r);
        if r.ts >= slot.ts {
            *slot = r;
        }
    }
    newest.into_values().collect()
}

/// Multi-row statements with anonymous `?` placeholders: SQLite looks
/// numbered ones up by a linear scan per parameter, which made a 3000-
/// parameter statement spend most of its time finding names. The text of
/// a full statement is built once.
/// The text for `rows` rows: the full statement's, built once, or a
/// shorter one for a commit's last chunk.
fn statement(full: &'static str, rows: usize, build: fn(usize) -> String) -> Cow<'static, str> {
    if rows == SQLITE_ROWS {
        Cow::Borrowed(full)
    } else {
        Cow::Owned(build(rows))
    }
}

async fn sqlite_commit(
    conn: &mut SqliteConnection,
    all: &[&Reading],
    newest: &[&Reading],
    tally: &Tally<'_>,
    received_at: i64,
) -> Result<(), Failed> {
    static INSERT: LazyLock<String> = LazyLock::new(|| sqlite_insert(SQLITE_ROWS));
    static UPSERT: LazyLock<String> = LazyLock::new(|| sqlite_upsert(SQLITE_ROWS));
    let mut tx = conn.begin().await.map_err(before_commit)?;
    for chunk in all.chunks(SQLITE_ROWS) {
        let sql = statement(INSERT.as_str(), chunk.len(), sqlite_insert);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.device_id)
                .bind(r.sensor.as_str())
                .bind(r.value)
                .bind(r.unit.as_deref())
                .bind(r.ts)
                .bind(received_at);
        }
        q.execute(&mut *tx).await.map_err(before_commit)?;
    }
    for chunk in newest.chunks(SQLITE_ROWS) {
        let sql = statement(UPSERT.as_str(), chunk.len(), sqlite_upsert);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.device_id)
                .bind(r.sensor.as_str())
                .bind(r.value)
                .bind(r.unit.as_deref())
                .bind(r.ts);
        }
        q.execute(&mut *tx).await.map_err(before_commit)?;
    }
    tally!(tx, tally);
    tx.commit().await.map_err(at_commit)
}

const POSTGRES_INSERT: &str = "INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) \
     SELECT d, s, v, u, t, $6 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::DOUBLE PRECISION[], $4::TEXT[], $5::BIGINT[]) AS r (d, s, v, u, t)";
const POSTGRES_UPSERT: &str = "INSERT INTO latest_readings (device_id, sensor, value, unit, ts) \
     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::DOUBLE PRECISION[], $4::TEXT[], $5::BIGINT[]) \
     ON CONFLICT (device_id, sensor) DO UPDATE SET value = excluded.value, unit = excluded.unit, ts = excluded.ts \
     WHERE excluded.ts >= latest_readings.ts";

/// Each column as one array: one statement per 2000 rows, always the same
/// text (prepared once per connection), six parameters however many rows.
async fn postgres_commit(
    conn: &mut PgConnection,
    all: &[&Reading],
    newest: &[&Reading],
    tally: &Tally<'_>,
    received_at: i64,
) -> Result<(), Failed> {
    let mut tx = conn.begin().await.map_err(before_commit)?;
    for chunk in all.chunks(POSTGRES_ROWS) {
        let (d, s, v, u, t) = columns(chunk);
        sqlx::query(POSTGRES_INSERT)
            .bind(d)
            .bind(s)
            .bind(v)
            .bind(u)
            .bind(t)
            .bind(received_at)
            .execute(&mut *tx)
            .await
            .map_err(before_commit)?;
    }
    for chunk in newest.chunks(POSTGRES_ROWS) {
        let (d, s, v, u, t) = columns(chunk);
        sqlx::query(POSTGRES_UPSERT)
            .bind(d)
            .bind(s)
            .bind(v)
            .bind(u)
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(before_commit)?;
    }
    tally!(tx, tally);
    tx.commit().await.map_err(at_commit)
}

/// The rows' columns, as the arrays of a PostgreSQL statement.
type Columns<'a> = (
    Vec<i64>,
    Vec<&'a str>,
    Vec<f64>,
    Vec<Option<&'a str>>,
    Vec<i64>,
);

fn columns<'a>(rows: &[&'a Reading]) -> Columns<'a> {
    let n = rows.len();
    let mut c: Columns<'a> = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for r in rows {
        c.0.push(r.device_id);
        c.1.push(&r.sensor);
        c.2.push(r.value);
        c.3.push(r.unit.as_deref());
        c.4.push(r.ts);
    }
    c
}

/// Keeps `latest_readings` at the newest reading of each sensor.
fn sqlite_upsert(rows: usize) -> String {
    format!(
        "INSERT INTO latest_readings (device_id, sensor, value, unit, ts) VALUES {} \
         ON CONFLICT (device_id, sensor) DO UPDATE SET value = excluded.value, unit = excluded.unit, ts = excluded.ts \
         WHERE excluded.ts >= latest_readings.ts",
        placeholders(rows, 5)
    )
}

fn sqlite_insert(rows: usize) -> String {
    format!(
        "INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) VALUES {}",
        placeholders(rows, 6)
    )
}

/// `(?, ?), (?, ?)` for `rows` rows of `cols` values.
fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row; rows].join(", ")
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
    use super::sqlite_insert;

    #[test]
    fn placeholders_are_anonymous_for_sqlite() {
        assert_eq!(
            sqlite_insert(2),
            "INSERT INTO readings (device_id, sensor, value, unit, ts, received_at) VALUES \
             (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)"
        );
    }
}
