//! The `vigil` binary: parse settings, build the application, serve until
//! interrupted.

use clap::Parser;
use vigil::{settings::Settings, startup::Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    vigil::telemetry::init(&settings.log);
    let app = Application::build(settings).await?;
    tracing::info!(north = %app.north_addr(), "vigil is serving");
    tokio::select! {
        res = app.run_until_stopped() => res,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted, shutting down");
            Ok(())
        }
    }
}
