//! The `vigil` binary: parse settings, build the application, serve until
//! SIGTERM or SIGINT, then stop in order (`Application::shutdown`) and
//! exit 0.

use clap::Parser;
use vigil::{settings::Settings, startup::Application};

/// Rust's allocations go to jemalloc: with glibc's allocator (two arenas,
/// trimmed every 2 s) the RSS after 1,000 devices at 20,000 readings/s
/// with 100 live streams stayed 14-31 MB above what jemalloc keeps
/// (`bench/live.sh 1000 2 20 100`: 74-91 MB against 56-60 MB once the
/// streams closed), the freed memory scattered over partly used pages.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings (`_RJEM_MALLOC_CONF` in the environment still
/// overrides them): a background thread gives freed pages back to the
/// system within about a second of their last use (jemalloc's default is
/// ten seconds, and only when allocating again), and skips the "muzzy"
/// stage that would keep them mapped for as long again.
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

fn main() -> anyhow::Result<()> {
    // Before the runtime starts its threads, so that every one of them
    // finds the bound.
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::parse();
    vigil::telemetry::init(&settings.log, settings.log_format);
    let app = Application::build(settings).await?;
    spawn_memory_trimming();
    tracing::info!(
        north = %app.north_addr(),
        devices = %app.device_addr(),
        mqtt = %app.mqtt_addr(),
        mqtt_north = %app.mqtt_north_addr(),
        metrics = %app.metrics_addr().map_or_else(|| "off".to_owned(), |a| a.to_string()),
        instance = app.instance(),
        "vigil is serving"
    );
    app.run_until(stop_signal()).await
}

/// SIGTERM (a service manager, a container's stop) or SIGINT (Ctrl-C).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = which, "stopping: draining connections");
    // A second signal does not wait for the drain.
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("vigil: second signal, exiting at once");
        std::process::exit(130);
    });
}

/// What C code allocates (SQLite's caches and statements) still goes to
/// glibc, which gives each thread that meets contention an arena of its
/// own, up to eight per core, and memory freed in one arena serves only
/// that arena: when all of the process used glibc, under 100 live streams
/// at 20,000 readings/s the RSS peaked at 145-169 MB and stayed at
/// 116-142 MB after; with two arenas 103-118 MB and 75-94 MB, at the same
/// throughput (`bench/live.sh 1000 2 20 100`, three runs each). An
/// explicit `MALLOC_ARENA_MAX` in the environment is left to decide.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt takes two integers and changes a setting of the
        // allocator; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// glibc's allocator keeps memory freed after a load in its arenas, so
/// the process stayed at its peak RSS long after the load ended
/// (`bench/live.sh`). Every 2 s its free pages (SQLite's) go back to the
/// system; a trim with little to give costs a few microseconds. (mimalloc was tried for Rust's allocations
/// before jemalloc: idle RSS 84 MB against 51.)
fn spawn_memory_trimming() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            // SAFETY: malloc_trim takes no pointer and only returns unused
            // heap pages; it is safe to call from any thread at any time.
            // It walks the allocator's arenas under their locks: on the
            // blocking pool, never on a worker that serves requests.
            let _ = tokio::task::spawn_blocking(|| unsafe {
                libc::malloc_trim(0);
            })
            .await;
        }
    });
}
