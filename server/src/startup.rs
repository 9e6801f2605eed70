//! Building the application from its settings: database, PKI, keys, state,
//! listeners. Tests build it with port 0 and read the bound addresses.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use rustls_pki_types::{pem::PemObject, CertificateDer};

use crate::{
    auth::{jwt::JwtKeys, throttle::LoginThrottle},
    db,
    devices::{
        self,
        certs::DeviceCa,
        index::{DeviceIndex, Entry},
        last_seen::LastSeen,
    },
    ingest::writer::Writer,
    net,
    pki::Pki,
    settings::Settings,
    south::{self, verifier::DeviceVerifier},
    state::{AppState, Shared},
    tokens::{self, revoked::RevokedSet},
    users, web,
};

pub struct Application {
    north_addr: SocketAddr,
    device_addr: SocketAddr,
    state: AppState,
    tasks: Vec<tokio::task::JoinHandle<()>>,
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
        let db = db::connect(&settings.database_url()).await?;
        users::ensure_admin(&db, &settings).await?;
        let devices = Arc::new(DeviceIndex::default());
        for row in devices::store::all(&db).await? {
            let d = row.device;
            let entry = Entry {
                id: d.id,
                active: d.status == "active",
                ca_issued: d.enrollment == "ca_issued",
                serial: row.serial,
            };
            devices.insert(d.cert_sha256, entry);
        }
        let device_ca_der = CertificateDer::from_pem_slice(pki.device_ca_pem.as_bytes())?;
        let device_ca = Arc::new(DeviceCa::new(pki.device_ca_pem.clone(), pki.device_ca_key)?);
        let engine = db::Engine::of_url(&settings.database_url())?;
        let (writer, writer_task) = Writer::spawn(db.clone(), engine);
        let revoked = Arc::new(RevokedSet::default());
        revoked.extend(tokens::store::revoked_since(&db, db::now(), 0).await?);
        let state = AppState::new(Shared {
            db,
            engine,
            jwt: Arc::new(JwtKeys::from_pem(&pki.jwt_key_pem)?),
            revoked,
            throttle: Arc::new(LoginThrottle::new(
                settings.login_max_failures,
                settings.login_max_failures_per_ip,
                settings.login_window,
            )),
            leptos: leptos_options(&settings),
            devices: devices.clone(),
            device_ca,
            writer,
            last_seen: Arc::new(LastSeen::default()),
            live: Arc::new(crate::live::LiveHub::default()),
            settings: Arc::new(settings),
        });
        let north = TcpListener::bind(state.settings.https_addr)
            .await
            .with_context(|| format!("binding VIGIL_HTTPS_ADDR {}", state.settings.https_addr))?;
        let north_addr = north.local_addr()?;
        let south = TcpListener::bind(state.settings.device_addr)
            .await
            .with_context(|| format!("binding VIGIL_DEVICE_ADDR {}", state.settings.device_addr))?;
        let device_addr = south.local_addr()?;
        let north_tls = Arc::new(net::server_config(
            pki.server_chain.clone(),
            pki.server_key.clone_key(),
            None,
        )?);
        let verifier = Arc::new(DeviceVerifier::new(
            device_ca_der,
            devices.clone(),
            net::provider(),
        )?);
        let south_tls = Arc::new(net::server_config(
            pki.server_chain,
            pki.server_key,
            Some(verifier),
        )?);
        let tasks = vec![
            tokio::spawn(net::serve(
                north,
                north_tls,
                web::router(state.clone()),
                None,
            )),
            tokio::spawn(net::serve(
                south,
                south_tls,
                south::router(state.clone()),
                Some(devices),
            )),
            tokens::sweeper::spawn(state.clone()),
            writer_task,
            spawn_last_seen_flusher(state.clone()),
        ];
        Ok(Application {
            north_addr,
            device_addr,
            state,
            tasks,
        })
    }

    pub fn north_addr(&self) -> SocketAddr {
        self.north_addr
    }

    pub fn device_addr(&self) -> SocketAddr {
        self.device_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        for t in std::mem::take(&mut self.tasks) {
            t.await.context("a server task stopped")?;
        }
        Ok(())
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn spawn_last_seen_flusher(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.settings.last_seen_flush);
        loop {
            tick.tick().await;
            state.last_seen.flush(&state.db).await;
        }
    })
}

fn leptos_options(settings: &Settings) -> LeptosOptions {
    let mut options = LeptosOptions::builder()
        .output_name("vigil")
        .site_root(settings.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    options.site_addr = settings.https_addr;
    options
}
