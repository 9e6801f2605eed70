//! Every setting, with its environment variable and default (`vigil --help`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
pub use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, Parser)]
#[command(name = "vigil", version, about = "Vigil, a secure IoT platform")]
pub struct Settings {
    /// North listener: dashboard and user API over HTTPS.
    #[arg(long, env = "VIGIL_HTTPS_ADDR", default_value = "127.0.0.1:8443")]
    pub https_addr: SocketAddr,
    /// South listener: device API over mutual TLS.
    #[arg(long, env = "VIGIL_DEVICE_ADDR", default_value = "127.0.0.1:8444")]
    pub device_addr: SocketAddr,
    /// MQTT listener for devices (TLS, device certificate required).
    #[arg(long, env = "VIGIL_MQTT_ADDR", default_value = "127.0.0.1:8883")]
    pub mqtt_addr: SocketAddr,
    /// MQTT listener for client applications (TLS, user tokens).
    #[arg(long, env = "VIGIL_MQTT_NORTH_ADDR", default_value = "127.0.0.1:8884")]
    pub mqtt_north_addr: SocketAddr,
    /// SQLite database and generated PKI live here.
    #[arg(long, env = "VIGIL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default `sqlite://$VIGIL_DATA_DIR/vigil.db`.
    #[arg(long, env = "VIGIL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// First administrator, created only while the database has no user.
    #[arg(long, env = "VIGIL_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,
    /// Its password; random and printed once to stderr when unset.
    #[arg(long, env = "VIGIL_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,
    /// Server certificate chain (PEM); generated under the data dir when unset.
    #[arg(long, env = "VIGIL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "VIGIL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Ed25519 JWT signing key (PKCS#8 PEM); generated under the data dir when
    /// unset. Share it between instances that serve one database.
    #[arg(long, env = "VIGIL_JWT_KEY")]
    pub jwt_key: Option<PathBuf>,
    /// Key-encryption key for the signing keys kept in the database: 32
    /// bytes as 64 hex digits. Unset, `pki/key-encryption.key` under the
    /// data dir (generated, 0600). Every instance of one database needs
    /// the same.
    #[arg(long, env = "VIGIL_KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub key_encryption_key: Option<SecretString>,
    /// Lifetime of user tokens (e.g. 30s, 15m, 1h, 7d).
    #[arg(long, env = "VIGIL_TOKEN_TTL", default_value = "1h", value_parser = parse_duration)]
    pub token_ttl: Duration,
    /// Lifetime of device tokens.
    #[arg(long, env = "VIGIL_DEVICE_TOKEN_TTL", default_value = "24h", value_parser = parse_duration)]
    pub device_token_ttl: Duration,
    /// How long a renewed device certificate keeps working beside its
    /// successor, unless the successor is used first.
    #[arg(long, env = "VIGIL_CERT_OVERLAP", default_value = "24h", value_parser = parse_duration)]
    pub cert_overlap: Duration,
    /// Lifetime in days of device certificates issued from CSRs.
    #[arg(long, env = "VIGIL_DEVICE_CERT_DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub device_cert_days: u32,
    /// How long expired tokens stay in the registry before they are purged.
    #[arg(long, env = "VIGIL_TOKEN_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub token_retention: Duration,
    /// How often the sweeper marks expired tokens and purges old ones.
    #[arg(long, env = "VIGIL_SWEEP_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub sweep_interval: Duration,
    /// How often devices' last-seen times are written.
    #[arg(long, env = "VIGIL_LAST_SEEN_FLUSH", default_value = "5s", value_parser = parse_duration)]
    pub last_seen_flush: Duration,
    /// Failed logins allowed per username within the window.
    #[arg(long, env = "VIGIL_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// Failed logins allowed per client address within the window.
    #[arg(long, env = "VIGIL_LOGIN_MAX_FAILURES_PER_IP", default_value_t = 20)]
    pub login_max_failures_per_ip: u32,
    /// Throttling window for failed logins.
    #[arg(long, env = "VIGIL_LOGIN_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub login_window: Duration,
    /// A connection must send a complete first request head this long after
    /// it was accepted (TLS handshake included), or it is closed.
    #[arg(long, env = "VIGIL_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// A connection with no request in flight this long is closed (an open
    /// live stream is in flight); request bodies must arrive within it.
    #[arg(long, env = "VIGIL_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// North: connections at once from one client address (an IPv4 address,
    /// or an IPv6 /64).
    #[arg(long, env = "VIGIL_MAX_CONNECTIONS_PER_IP", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: u32,
    /// South: connections at once from one client address (devices behind
    /// one NAT share it).
    #[arg(long, env = "VIGIL_DEVICE_MAX_CONNECTIONS_PER_IP", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub device_max_connections_per_ip: u32,
    /// Live streams one user may hold open at once.
    #[arg(long, env = "VIGIL_MAX_STREAMS_PER_USER", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_user: u32,
    /// Distinct sensor names one device may send.
    #[arg(long, env = "VIGIL_DEVICE_MAX_SENSORS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub device_max_sensors: u32,
    /// Device tokens one device may obtain per hour.
    #[arg(long, env = "VIGIL_DEVICE_TOKENS_PER_HOUR", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub device_tokens_per_hour: u32,
    /// Sustained readings per second one device may send (bursts up to ten
    /// seconds' worth).
    #[arg(long, env = "VIGIL_DEVICE_MAX_READINGS_PER_S", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub device_max_readings_per_s: u32,
    /// Commands one device may have open (queued or delivered) at once.
    #[arg(long, env = "VIGIL_DEVICE_MAX_OPEN_COMMANDS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub device_max_open_commands: u32,
    /// How long readings are kept (`unlimited`, or a duration such as
    /// `90d`); older ones are deleted in batches every sweep interval.
    #[arg(long, env = "VIGIL_READINGS_RETENTION", default_value = "unlimited", value_parser = parse_retention)]
    pub readings_retention: Retention,
    /// How long audit entries are kept.
    #[arg(long, env = "VIGIL_AUDIT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub audit_retention: Duration,
    /// Names of the generated server certificate, which the generated
    /// platform CA is constrained to (comma-separated DNS names and IPs).
    #[arg(
        long,
        env = "VIGIL_TLS_NAMES",
        default_value = "localhost,127.0.0.1,::1",
        value_delimiter = ','
    )]
    pub tls_names: Vec<String>,
    /// Built dashboard assets (cargo-leptos output).
    #[arg(long, env = "VIGIL_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "VIGIL_LOG", default_value = "info")]
    pub log: String,
    /// Log lines for people (`text`) or one JSON object per line (`json`),
    /// each with its request's id.
    #[arg(long, env = "VIGIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Prometheus metrics over plain HTTP at `GET /metrics` on this address
    /// (for example 127.0.0.1:9464); off when unset.
    #[arg(long, env = "VIGIL_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// Defaults only, whatever the environment holds: the base for tests.
    pub fn defaults() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Settings::command().mut_args(|a| a.env(None));
        let matches = cmd.get_matches_from(["vigil"]);
        Settings::from_arg_matches(&matches).expect("the defaults parse")
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}/vigil.db", self.data_dir.display()),
        }
    }
}

/// A retention: `unlimited`, or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

pub fn parse_retention(s: &str) -> Result<Retention, String> {
    if s.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(Retention(None));
    }
    parse_duration(s).map(|d| Retention(Some(d)))
}

/// Ten years: keeps every duration far from overflowing timestamp arithmetic.
const MAX_DURATION_SECS: u64 = 3650 * 86_400;

/// `90`, `90s`, `15m`, `1h`, `7d`, `1h 30m`: humantime's syntax, plus bare
/// seconds; positive and at most ten years.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration like 30s, 15m, 1h, 7d ({e})"))?,
    };
    if d.is_zero() {
        return Err("a duration must be positive".into());
    }
    if d.as_secs() > MAX_DURATION_SECS {
        return Err(format!("`{s}` is longer than the 3650-day maximum"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
        assert!(parse_duration("3651d").is_err());
        assert_eq!(parse_retention("unlimited").unwrap(), Retention(None));
        assert_eq!(
            parse_retention("30d").unwrap(),
            Retention(Some(Duration::from_secs(30 * 86_400)))
        );
        assert!(parse_retention("forever").is_err());
        assert_eq!(Settings::defaults().readings_retention, Retention(None));
    }

    #[test]
    fn defaults_ignore_the_environment() {
        // Set only for this process's test binary; read back at once.
        std::env::set_var("VIGIL_LOGIN_MAX_FAILURES", "999");
        assert_eq!(Settings::defaults().login_max_failures, 5);
        std::env::remove_var("VIGIL_LOGIN_MAX_FAILURES");
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let mut s = Settings::defaults();
        s.admin_password = Some(SecretString::from("hunter2"));
        s.database_url = Some(SecretString::from("postgres://u:hunter3@db/x"));
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
    }
}
