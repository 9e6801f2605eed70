//! The `vigil` binary: parse settings, build the application, serve until
//! SIGTERM or SIGINT, then stop in order (`Application::shutdown`) and
//! exit 0.

use clap::Parser;
use vigil::{settings::Settings, startup::Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    vigil::telemetry::init(&settings.log, settings.log_format);
    let app = Application::build(settings).await?;
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
