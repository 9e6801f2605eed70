//! Building the application from its settings: database, PKI, keys, state,
//! listeners. Tests build it with port 0 and read the bound addresses.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::{
    auth::{jwt::JwtKeys, throttle::LoginThrottle},
    db, net,
    pki::Pki,
    settings::Settings,
    state::AppState,
    tokens::{self, revoked::RevokedSet},
    users, web,
};

pub struct Application {
    north_addr: SocketAddr,
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
        let revoked = Arc::new(RevokedSet::default());
        revoked.extend(tokens::store::revoked_since(&db, db::now(), 0).await?);
        let state = AppState {
            db,
            engine: db::Engine::of_url(&settings.database_url())?,
            jwt: Arc::new(JwtKeys::from_pem(&pki.jwt_key_pem)?),
            revoked,
            throttle: Arc::new(LoginThrottle::new(
                settings.login_max_failures,
                settings.login_max_failures_per_ip,
                settings.login_window,
            )),
            leptos: leptos_options(&settings),
            settings: Arc::new(settings),
        };
        let north = TcpListener::bind(state.settings.https_addr)
            .await
            .with_context(|| format!("binding VIGIL_HTTPS_ADDR {}", state.settings.https_addr))?;
        let north_addr = north.local_addr()?;
        let tls = Arc::new(net::server_config(pki.server_chain, pki.server_key)?);
        let tasks = vec![
            tokio::spawn(net::serve(north, tls, web::router(state.clone()))),
            tokens::sweeper::spawn(state.clone()),
        ];
        Ok(Application { north_addr, state, tasks })
    }

    pub fn north_addr(&self) -> SocketAddr {
        self.north_addr
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

fn leptos_options(settings: &Settings) -> LeptosOptions {
    let mut options = LeptosOptions::builder()
        .output_name("vigil")
        .site_root(settings.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    options.site_addr = settings.https_addr;
    options
}
