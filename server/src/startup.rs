//! Building the application from its settings: database, PKI, keys, state,
//! listeners. Tests build it with port 0 and read the bound addresses.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use leptos::config::LeptosOptions;
use rustls_pki_types::{pem::PemObject, CertificateDer};
use tokio::net::TcpListener;

use crate::{
    api,
    audit::Audit,
    auth::throttle::LoginThrottle,
    clock::Clock,
    commands::{self, Commands},
    db,
    devices::{
        certs::DeviceCa, verifier::DeviceVerifier, DeviceSettings, Devices, RevocationWatch,
    },
    feed,
    ingest::{quota::Quotas, writer::Writer, Pipeline},
    live::LiveHub,
    mqtt::{self, Mqtt, Sessions},
    net,
    pki::Pki,
    settings::Settings,
    state::{AppState, Shared},
    stopping::Stopping,
    tokens::{self, keys::Kek, Lifetimes, Tokens},
    users, web,
};

/// The north listener's kernel send buffer per connection: a quarter of a
/// megabyte carries a dashboard's live stream and pages over a long link,
/// and bounds what a viewer who stops reading can make us push.
const NORTH_SEND_BUFFER: usize = 256 * 1024;

pub struct Application {
    north_addr: SocketAddr,
    device_addr: SocketAddr,
    mqtt_addr: SocketAddr,
    mqtt_north_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    /// This instance's name among those on one database (its PostgreSQL
    /// `application_name`).
    instance: String,
    state: AppState,
    settings: Arc<Settings>,
    /// The four listeners: each returns once stopped and drained.
    listeners: Vec<tokio::task::JoinHandle<()>>,
    /// Everything else: sweepers, the writer, the feed. Aborted last.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// SQLite's single-instance lock, held while the application lives.
    _single_instance: Option<std::fs::File>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        // The database holds password hashes: owner only.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&settings.data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let pki = Pki::load_or_create(&settings)?;
        let url = settings.database_url();
        let engine = db::Engine::of_url(&url)?;
        let single_instance = db::claim_sqlite(&url)?;
        // This instance's name among those sharing a database.
        let instance = format!("vigil-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let db = db::connect(&url, &instance).await?;
        users::ensure_admin(&db, &settings).await?;
        let clock = Clock::default();
        let device_ca_der = CertificateDer::from_pem_slice(pki.device_ca_pem.as_bytes())?;
        let device_ca = DeviceCa::new(pki.device_ca_pem.clone(), pki.device_ca_key)?;
        let devices = Devices::load(
            db.clone(),
            device_ca,
            net::provider(),
            DeviceSettings {
                cert_days: settings.device_cert_days,
                cert_overlap: settings.cert_overlap,
                tokens_per_hour: settings.device_tokens_per_hour,
            },
        )
        .await?;
        let tokens = Tokens::load(
            db.clone(),
            engine,
            &pki.jwt_key_pem,
            Kek::load(settings.key_encryption_key.as_ref(), &pki.dir)?,
            clock.clone(),
            Lifetimes {
                user: settings.token_ttl,
                device: settings.device_token_ttl,
            },
        )
        .await?;
        let quotas = Quotas::new(
            db.clone(),
            settings.device_max_sensors as usize,
            settings.device_max_readings_per_s,
        );
        let live = LiveHub::new(settings.max_streams_per_user as usize);
        let (writer, writer_task) = Writer::spawn(url.clone(), instance.clone(), live.clone());
        let commands = Commands::new(
            db.clone(),
            engine,
            clock.clone(),
            live.clone(),
            i64::from(settings.device_max_open_commands),
        );
        let ingest = Pipeline {
            writer: writer.clone(),
            devices: devices.clone(),
            quotas: quotas.clone(),
            clock: clock.clone(),
        };
        let stopping = Stopping::default();
        let assets = crate::assets::Assets::load(&settings.site_root.join("pkg"), "vigil");
        let state = AppState::new(Shared {
            audit: Audit::new(db.clone()),
            db,
            engine,
            clock,
            tokens: tokens.clone(),
            throttle: Arc::new(LoginThrottle::new(
                settings.login_max_failures,
                settings.login_max_failures_per_ip,
                settings.login_window,
            )),
            devices: devices.clone(),
            writer,
            quotas,
            live,
            commands: commands.clone(),
            ingest: ingest.clone(),
            mqtt_sessions: Sessions::default(),
            stopping: stopping.clone(),
            leptos: leptos_options(&settings, assets.as_deref()),
            assets,
        });
        let north = TcpListener::bind(settings.https_addr)
            .await
            .with_context(|| format!("binding VIGIL_HTTPS_ADDR {}", settings.https_addr))?;
        let north_addr = north.local_addr()?;
        let south = TcpListener::bind(settings.device_addr)
            .await
            .with_context(|| format!("binding VIGIL_DEVICE_ADDR {}", settings.device_addr))?;
        let device_addr = south.local_addr()?;
        let mqtt_devices = TcpListener::bind(settings.mqtt_addr)
            .await
            .with_context(|| format!("binding VIGIL_MQTT_ADDR {}", settings.mqtt_addr))?;
        let mqtt_addr = mqtt_devices.local_addr()?;
        let mqtt_clients = TcpListener::bind(settings.mqtt_north_addr)
            .await
            .with_context(|| {
                format!("binding VIGIL_MQTT_NORTH_ADDR {}", settings.mqtt_north_addr)
            })?;
        let mqtt_north_addr = mqtt_clients.local_addr()?;
        let mqtt_north_tls = Arc::new(net::server_config_for(
            pki.server_chain.clone(),
            pki.server_key.clone_key(),
            None,
            &[b"mqtt"],
        )?);
        let north_tls = Arc::new(net::server_config(
            pki.server_chain.clone(),
            pki.server_key.clone_key(),
            None,
        )?);
        let verifier = Arc::new(DeviceVerifier::new(
            device_ca_der,
            devices.index().clone(),
            devices.groups().clone(),
            net::provider(),
        )?);
        let mqtt_tls = Arc::new(net::server_config_for(
            pki.server_chain.clone(),
            pki.server_key.clone_key(),
            Some(verifier.clone()),
            &[b"mqtt"],
        )?);
        let south_tls = Arc::new(net::server_config(
            pki.server_chain,
            pki.server_key,
            Some(verifier),
        )?);
        let watch = Arc::new(RevocationWatch::new(
            devices.index().clone(),
            state.clock.clone(),
        ));
        let apis = api::build(&state);
        let mqtt = Arc::new(Mqtt {
            db: state.db.clone(),
            live: state.live.clone(),
            devices: devices.clone(),
            tokens: tokens.clone(),
            ingest,
            commands: commands.clone(),
            sessions: state.mqtt_sessions.clone(),
            connect_within: settings.header_timeout,
            max_packet: mqtt::MAX_PACKET,
            max_in_flight: mqtt::MAX_IN_FLIGHT,
        });
        // Each listener gets its own share of the open files, so a flood on
        // one cannot starve the other or the database.
        let share = net::nofile::share(net::nofile::raise(), 4);
        let limits = |name, per_address: u32, send_buffer| net::Limits {
            name,
            header_timeout: settings.header_timeout,
            idle_timeout: settings.idle_timeout,
            max_per_address: per_address as usize,
            max_connections: share,
            send_buffer,
        };
        // Other instances on the same PostgreSQL database: their changes.
        let feed = match engine {
            db::Engine::Postgres => {
                let targets = feed::Targets {
                    tokens: tokens.clone(),
                    devices: devices.clone(),
                    commands: commands.clone(),
                    live: state.live.clone(),
                };
                feed::spawn(&url, &instance, state.db.clone(), targets)
                    .await
                    .context("following the change feed")?
            }
            db::Engine::Sqlite => Vec::new(),
        };
        let listeners = vec![
            tokio::spawn(net::serve(
                north,
                north_tls,
                web::service(state.clone(), apis.north),
                None,
                limits(
                    "north",
                    settings.max_connections_per_ip,
                    Some(NORTH_SEND_BUFFER),
                ),
                stopping.clone(),
            )),
            tokio::spawn(net::serve(
                south,
                south_tls,
                apis.south,
                Some(watch),
                limits("devices", settings.device_max_connections_per_ip, None),
                stopping.clone(),
            )),
            tokio::spawn(mqtt::serve_clients(
                mqtt_clients,
                mqtt_north_tls,
                limits(
                    "mqtt_clients",
                    settings.max_connections_per_ip,
                    Some(NORTH_SEND_BUFFER),
                ),
                stopping.clone(),
                mqtt.clone(),
            )),
            tokio::spawn(mqtt::serve_devices(
                mqtt_devices,
                mqtt_tls,
                limits("mqtt_devices", settings.device_max_connections_per_ip, None),
                stopping.clone(),
                mqtt,
            )),
        ];
        let mut tasks = vec![
            crate::devices::certificates::spawn_settling(devices.clone(), tokens.clone()),
            spawn_device_announcements(devices.clone(), state.live.clone()),
            tokens::sweeper::spawn(tokens, settings.sweep_interval, settings.token_retention),
            writer_task,
            state
                .audit
                .clone()
                .spawn_retention(settings.audit_retention, settings.sweep_interval),
            commands::spawn_sweeper(commands, devices.index().subscribe()),
            spawn_last_seen_flusher(devices, settings.last_seen_flush),
        ];
        tasks.extend(feed);
        tasks.extend(crate::db::spawn_checkpoints(state.db.clone(), engine));
        if let Some(retention) = settings.readings_retention.0 {
            tasks.push(crate::readings::spawn_retention(
                state.db.clone(),
                retention,
                settings.sweep_interval,
            ));
        }
        // Metrics are read until the end (and not drained: the stop aborts
        // them with the other tasks).
        let mut metrics_addr = None;
        if let Some(addr) = settings.metrics_addr {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding VIGIL_METRICS_ADDR {addr}"))?;
            metrics_addr = Some(listener.local_addr()?);
            tasks.push(tokio::spawn(crate::metrics::serve(listener, state.clone())));
        }
        Ok(Application {
            north_addr,
            device_addr,
            mqtt_addr,
            mqtt_north_addr,
            metrics_addr,
            instance,
            state,
            settings: Arc::new(settings),
            listeners,
            tasks,
            _single_instance: single_instance,
        })
    }

    pub fn north_addr(&self) -> SocketAddr {
        self.north_addr
    }

    pub fn device_addr(&self) -> SocketAddr {
        self.device_addr
    }

    /// The device MQTT listener.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.mqtt_addr
    }

    /// The client applications' MQTT listener.
    pub fn mqtt_north_addr(&self) -> SocketAddr {
        self.mqtt_north_addr
    }

    /// The metrics listener, when `VIGIL_METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Serves until a task fails (an error) or `stop` resolves; then
    /// stops in order (`shutdown`).
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let ended = {
            // None of these ends before the stop: one that does has failed.
            let all = futures_util::future::select_all(
                self.listeners.iter_mut().chain(self.tasks.iter_mut()),
            );
            tokio::select! {
                (res, _, _) = all => Some(res),
                () = stop => None,
            }
        };
        if let Some(res) = ended {
            res.context("a server task stopped")?;
            anyhow::bail!("a server task stopped");
        }
        self.shutdown().await;
        Ok(())
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// The orderly stop, within `DRAIN` + `FLUSH` + `CLOSE` (9 s): no new connection is
    /// accepted; requests in flight are answered (a connection gets
    /// `net`'s grace to finish them), live streams end with `shutdown`,
    /// long-polls answer, MQTT sessions settle what they hold and get a
    /// DISCONNECT (0x8B in 5.0); then the writer's queue is committed,
    /// last-seen times are written, and the database is closed.
    pub async fn shutdown(mut self) {
        self.state.stopping.stop();
        let listeners = futures_util::future::join_all(std::mem::take(&mut self.listeners));
        if tokio::time::timeout(DRAIN, listeners).await.is_err() {
            tracing::warn!("connections still open after the drain time; closing them");
        }
        let flush = async {
            self.state.writer.flush().await;
            self.state.devices.flush_last_seen().await;
        };
        if tokio::time::timeout(FLUSH, flush).await.is_err() {
            tracing::warn!("writing what was held in memory took too long");
        }
        for t in &self.tasks {
            t.abort();
        }
        if tokio::time::timeout(CLOSE, self.state.db.close())
            .await
            .is_err()
        {
            tracing::warn!("closing the database took too long");
        }
        tracing::info!("stopped");
    }
}

/// How long connections get to finish once the stop is asked for.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(6);
/// Then how long writing what is held in memory may take.
const FLUSH: std::time::Duration = std::time::Duration::from_secs(2);
/// Then closing the database's connections (SQLite checkpoints its log).
const CLOSE: std::time::Duration = std::time::Duration::from_secs(1);

impl Drop for Application {
    fn drop(&mut self) {
        // Connections and sessions end too (tests drop instances).
        self.state.stopping.stop();
        for t in self.tasks.iter().chain(&self.listeners) {
            t.abort();
        }
    }
}

fn spawn_last_seen_flusher(
    devices: Devices,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            devices.flush_last_seen().await;
        }
    })
}

/// Pages link the dashboard's files in their hashed directory when the
/// build is there (`assets`), by the plain names otherwise.
fn leptos_options(settings: &Settings, assets: Option<&crate::assets::Assets>) -> LeptosOptions {
    let mut options = LeptosOptions::builder()
        .output_name("vigil")
        .site_root(settings.site_root.to_string_lossy().into_owned())
        .site_pkg_dir(assets.map_or_else(|| "pkg".to_owned(), |a| format!("pkg/{}", a.name)))
        .build();
    options.site_addr = settings.https_addr;
    options
}

/// Tells the live streams of each device new to this instance (event
/// `devices`, the device as the API shows it), so that lists grow without
/// a reload.
fn spawn_device_announcements(devices: Devices, live: LiveHub) -> tokio::task::JoinHandle<()> {
    let mut added = devices.added();
    tokio::spawn(async move {
        loop {
            match added.recv().await {
                Ok(device) => {
                    if let Ok(json) = serde_json::to_vec(&device) {
                        live.publish_event("devices", device.id, json.into());
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}
