//! The signed-in home page: who you are, the fleet at a glance (cards
//! from `GET /api/v1/summary`, refreshed every 15 s), and the devices.

use leptos::prelude::*;

use crate::{
    api::use_api,
    components::{
        card::Card,
        header::Header,
        sparkline::Sparkline,
        status::{failures, Loading},
        time::{self, Time},
    },
    pages::devices::DevicesPanel,
    session::require_session,
    types::FleetSummary,
};

/// Seconds between refreshes of the cards.
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
const REFRESH_S: u64 = 15;
/// The windows that count a device online, in seconds.
const WINDOWS: [u32; 3] = [300, 3600, 86_400];

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = require_session();
    view! {
        <Header/>
        <main id="main" tabindex="-1" class="mx-auto max-w-5xl p-4">
            <h1 class="mb-2 text-xl font-semibold">"Overview"</h1>
            <Show when=move || auth.signed_in()>
                <Welcome/>
                <FleetCards/>
                <DevicesPanel/>
            </Show>
        </main>
    }
}

/// Confirms the stored token with the server; a revoked or expired one
/// ends the session.
#[component]
fn Welcome() -> impl IntoView {
    let api = use_api();
    let me = LocalResource::new(move || async move { api.me().await });
    view! {
        <Transition fallback=|| view! { <Loading what="your account"/> }>
            <ErrorBoundary fallback=failures>
                {move || Suspend::new(async move {
                    me.await.map(|u| view! {
                        <p data-testid="welcome">
                            "Signed in as " <strong>{u.username}</strong> " (" {u.role.as_str()} ")."
                        </p>
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn FleetCards() -> impl IntoView {
    let api = use_api();
    let within = RwSignal::new(WINDOWS[0]);
    let tick = RwSignal::new(0u32);
    let summary = LocalResource::new(move || {
        let w = within.get();
        tick.track();
        async move { api.summary(w).await }
    });
    #[cfg(feature = "browser")]
    Effect::new(move |_| {
        let every = std::time::Duration::from_secs(REFRESH_S);
        if let Ok(h) = set_interval_with_handle(move || tick.update(|t| *t += 1), every) {
            on_cleanup(move || h.clear());
        }
    });
    view! {
        <section class="mt-4" aria-labelledby="fleet-title">
            <div class="mb-2 flex flex-wrap items-end gap-3">
                <h2 id="fleet-title" class="mr-auto text-lg font-semibold">"Fleet"</h2>
                <label class="text-sm">"Online means seen within"
                    <select class="ml-1 rounded border border-slate-300 px-2 py-1" data-testid="online-within"
                        prop:value=move || within.get().to_string()
                        on:change=move |ev| {
                            if let Ok(w) = event_target_value(&ev).parse() {
                                within.set(w);
                            }
                        }>
                        {WINDOWS.into_iter().map(|w| view! { <option value=w.to_string()>{time::span(w)}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <Loading what="the fleet's figures"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move { summary.await.map(cards) })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

fn cards(s: FleetSummary) -> impl IntoView {
    let w = s.online_within;
    let devices = |status: &str| format!("/?status={status}&within={w}#devices");
    let counts: Vec<i64> = s
        .readings_per_minute_series
        .iter()
        .map(|m| m.count)
        .collect();
    let security = s.security.map(|sec| {
        view! {
            <Card label="Failed logins (24 h)" value=sec.failed_logins_24h testid="summary-failed-logins" href="/security"/>
            <Card label="Revocations (24 h)" value=sec.revocations_24h testid="summary-revocations" href="/security"/>
            <Card label="Certificates expiring (30 d)" value=sec.expiring_certificates_30d testid="summary-expiring" href="/security"/>
        }
    });
    view! {
        <div class="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-4" data-testid="fleet-cards">
            <Card label="Online" value=s.devices.online testid="summary-online" href=devices("online")/>
            <Card label="Offline" value=s.devices.offline testid="summary-offline" href=devices("offline")/>
            <Card label="Revoked" value=s.devices.revoked testid="summary-revoked" href=devices("revoked")/>
            <Card label="Open commands" value=s.open_commands testid="summary-open-commands"/>
            <Card label="Readings per minute" value=s.readings_per_minute testid="summary-readings-per-minute">
                <Sparkline counts=counts label="Readings per minute, last hour".into() testid="readings-sparkline"/>
            </Card>
            {security}
        </div>
        <p class="mt-1 text-xs text-slate-500">"As of " <Time ts=s.generated_at.clone()/> {format!("; {} devices in all.", s.devices.total)}</p>
    }
}
