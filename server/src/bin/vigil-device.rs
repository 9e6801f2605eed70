//! `vigil-device`: enroll a device, get its token, send readings, or
//! simulate a fleet. See `vigil-device --help`.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = vigil::device_cli::Cli::parse();
    if let Err(e) = vigil::device_cli::run(cli).await {
        eprintln!("vigil-device: {e:#}");
        std::process::exit(1);
    }
}
