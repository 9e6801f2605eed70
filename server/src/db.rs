//! The database: one `AnyPool` whose SQL runs unchanged on SQLite and
//! PostgreSQL (`$n` placeholders, BIGINT seconds for time, TEXT and BIGINT
//! columns only), and the migrations of each engine.

use std::{str::FromStr, sync::Arc};

use anyhow::Context;
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
    AnyPool, ConnectOptions, Executor,
};

pub type Db = AnyPool;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of_url(url: &str) -> anyhow::Result<Engine> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Engine::Postgres)
        } else {
            anyhow::bail!("VIGIL_DATABASE_URL must start with sqlite:// or postgres://")
        }
    }
}

/// SQLite is a single-instance engine. While an instance runs it holds an
/// exclusive lock (`flock`) on `<database file>.lock`, beside the database;
/// a second instance on the same file is refused at start. The lock goes
/// with the process, however it ends, so a crash leaves nothing to clean.
/// `None` for PostgreSQL (and an in-memory SQLite database).
pub fn claim_sqlite(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    if Engine::of_url(url)? != Engine::Sqlite {
        return Ok(None);
    }
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(url).context("parsing the database URL")?;
    let db_file = options.get_filename();
    if db_file == std::path::Path::new(":memory:") {
        return Ok(None);
    }
    let mut name = db_file.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = db_file.with_file_name(name);
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another Vigil instance is running on the SQLite database {}: SQLite is a \
             single-instance engine. Stop the other instance, or run several instances on \
             PostgreSQL (VIGIL_DATABASE_URL=postgres://...)",
            db_file.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", lock_path.display()))
        }
    }
}

/// Whether the database answers within `within`.
pub async fn answers(db: &Db, within: std::time::Duration) -> bool {
    matches!(
        tokio::time::timeout(within, sqlx::query("SELECT 1").execute(db)).await,
        Ok(Ok(_))
    )
}

/// A PostgreSQL server off this machine reached without `sslmode=verify-full`
/// can be impersonated or read on the way: say so at start.
fn warn_unverified_tls(url: &str) {
    if let Some(host) = unverified_remote(url) {
        tracing::warn!(
            host,
            "VIGIL_DATABASE_URL reaches PostgreSQL on another machine without sslmode=verify-full: \
             the connection is not protected against interception; add sslmode=verify-full \
             (and sslrootcert=<CA file>)"
        );
    }
}

/// The host of a PostgreSQL URL that reaches another machine without
/// `sslmode=verify-full`.
fn unverified_remote(url: &str) -> Option<String> {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    let options = PgConnectOptions::from_str(url).ok()?;
    let host = options.get_host();
    let local = options.get_socket().is_some()
        || host == "localhost"
        || host.starts_with('/')
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local && !matches!(options.get_ssl_mode(), PgSslMode::VerifyFull)).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_refused_by_name() {
        let err = connect("sqlite::memory:", "vigil-t").await.unwrap_err();
        assert!(err.to_string().contains("in-memory"), "{err}");
    }

    #[test]
    fn a_remote_database_without_verified_tls_is_named() {
        assert_eq!(
            unverified_remote("postgres://u@db.example/v").as_deref(),
            Some("db.example")
        );
        assert_eq!(
            unverified_remote("postgres://u@db.example/v?sslmode=require").as_deref(),
            Some("db.example")
        );
        assert_eq!(
            unverified_remote("postgres://u@db.example/v?sslmode=verify-full"),
            None
        );
        assert_eq!(unverified_remote("postgres://u@127.0.0.1:5432/v"), None);
        assert_eq!(unverified_remote("postgres://u@localhost/v"), None);
    }
}

/// Runs `delete` (a DELETE of at most `$2` rows older than `$1`, oldest
/// first) again and again until one deletes fewer than `batch`, with a
/// pause between statements: each holds the database (and so the readings
/// writer) only briefly, however much there is to delete. How many went.
pub async fn delete_in_batches(
    db: &Db,
    delete: &'static str,
    before: i64,
    batch: i64,
) -> sqlx::Result<u64> {
    let mut total = 0;
    loop {
        let n = sqlx::query(delete)
            .bind(before)
            .bind(batch)
            .execute(db)
            .await?
            .rows_affected();
        total += n;
        if n < batch as u64 {
            return Ok(total);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every `every`, runs `trim` (a retention's deletion) and logs what it
/// deleted from `what`.
pub fn spawn_trimming<F, Fut>(
    what: &'static str,
    every: std::time::Duration,
    mut trim: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = sqlx::Result<u64>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match trim().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, what, "rows past their retention deleted"),
                Err(e) => {
                    tracing::warn!(error = %e, what, "deleting rows past their retention failed")
                }
            }
        }
    })
}

/// Every SQLite connection's settings. WAL lets readers run beside the
/// writer; FULL sync keeps every acknowledged commit across a crash. No
/// commit checkpoints the WAL into the database file on its own (the
/// readings writer would pay for it inside a request's wait): a task of
/// its own does it (`spawn_checkpoints`); the large automatic threshold is
/// only a backstop should that task fall behind.
const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA wal_autocheckpoint = 65536",
    // The log file is cut back to 64 MiB once checkpointed, not kept at
    // the largest size a burst made it.
    "PRAGMA journal_size_limit = 67108864",
];

/// How often the SQLite WAL is copied into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Checkpoints the SQLite WAL off the writer's path: every quarter of a
/// second, a PASSIVE checkpoint on a pool connection copies what the
/// readers no longer need and never waits for them or blocks a commit.
/// Nothing for PostgreSQL.
pub fn spawn_checkpoints(db: Db, engine: Engine) -> Option<tokio::task::JoinHandle<()>> {
    (engine == Engine::Sqlite).then(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&db)
                    .await
                {
                    tracing::warn!(error = %e, "checkpointing the database failed");
                }
            }
        })
    })
}

/// The URL as connected: a SQLite file is created when missing.
fn normalized(url: &str, engine: Engine) -> String {
    match engine {
        Engine::Sqlite if !url.contains("mode=") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        }
        _ => url.to_owned(),
    }
}

/// A connection of the engine's own driver, outside the pool, for the
/// readings writer: its statements bind thousands of values per commit,
/// which the concrete drivers take borrowed (the `Any` driver boxes each
/// one), and PostgreSQL takes them as arrays. Same settings as the pool's
/// connections (the instance's name included: the change feed knows its
/// own readings by it).
pub enum Direct {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

pub async fn connect_direct(url: &str, instance: &str) -> anyhow::Result<Direct> {
    let engine = Engine::of_url(url)?;
    let url = normalized(url, engine);
    Ok(match engine {
        Engine::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .context("parsing the database URL")?
                .disable_statement_logging();
            let mut conn = options.connect().await?;
            for pragma in SQLITE_PRAGMAS {
                conn.execute(*pragma).await?;
            }
            Direct::Sqlite(conn)
        }
        Engine::Postgres => {
            let options = sqlx::postgres::PgConnectOptions::from_str(&url)
                .context("parsing the database URL")?
                .application_name(instance)
                .disable_statement_logging();
            Direct::Postgres(options.connect().await?)
        }
    })
}

/// Opens the pool (creating the SQLite file if needed) and runs migrations.
/// Connects and migrates. On PostgreSQL every connection is named
/// `instance` (`application_name`): the change feed knows each change's
/// origin by it.
pub async fn connect(url: &str, instance: &str) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let engine = Engine::of_url(url)?;
    if engine == Engine::Postgres {
        warn_unverified_tls(url);
    }
    if engine == Engine::Sqlite {
        anyhow::ensure!(
            !url.contains(":memory:") && !url.contains("mode=memory"),
            "VIGIL_DATABASE_URL: an in-memory SQLite database is not supported \
             (each connection would see its own); name a file"
        );
    }
    let url = normalized(url, engine);
    let options = AnyConnectOptions::from_str(&url)
        .context("parsing the database URL")?
        .disable_statement_logging();
    // An instance name is ours (letters, digits, `-`): safe to quote.
    anyhow::ensure!(
        instance
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "an instance name is letters, digits and -"
    );
    let set_name = Arc::new(format!("SET application_name = '{instance}'"));
    let pool = AnyPoolOptions::new()
        .max_connections(if engine == Engine::Sqlite { 8 } else { 16 })
        .after_connect(move |conn, _meta| {
            let name = set_name.clone();
            Box::pin(async move {
                if engine == Engine::Postgres {
                    conn.execute(name.as_str()).await?;
                }
                if engine == Engine::Sqlite {
                    for pragma in SQLITE_PRAGMAS {
                        conn.execute(*pragma).await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .context("connecting to the database")?;
    let migrator = match engine {
        Engine::Sqlite => &SQLITE_MIGRATIONS,
        Engine::Postgres => &POSTGRES_MIGRATIONS,
    };
    if engine == Engine::Sqlite {
        // SQLite changes some constraints only by building a table anew
        // (its documented procedure), which needs foreign keys off, and
        // that pragma is ignored inside the transaction each migration
        // runs in: so the migrations get a connection with them off, and
        // the keys are checked after.
        let mut conn = pool.acquire().await?;
        conn.execute("PRAGMA foreign_keys = OFF").await?;
        let ran = migrator.run(&mut *conn).await;
        conn.execute("PRAGMA foreign_keys = ON").await?;
        ran.context("running database migrations")?;
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut *conn)
            .await?;
        anyhow::ensure!(
            broken.is_empty(),
            "the database breaks {} foreign key(s) after its migrations",
            broken.len()
        );
    } else {
        migrator
            .run(&pool)
            .await
            .context("running database migrations")?;
    }
    Ok(pool)
}

/// True when the error says the connection itself is gone: I/O, the
/// driver's worker, or PostgreSQL's connection-exception and shutdown
/// codes (an administrator or a restart ended the session).
pub fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// True when the error is a unique-constraint violation (→ 409).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Seconds since the Unix epoch: the time unit of every column.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// RFC 3339 (UTC, seconds) for API answers.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// RFC 3339 with milliseconds, for reading times (stored in milliseconds).
pub fn rfc3339_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
