//! Security overview (admins): the signals in one place — tokens in use,
//! failed and throttled logins, revocations, certificates about to expire,
//! enrollment groups near their limit, the signing key.

use leptos::prelude::*;

use crate::{
    api::use_api,
    components::{
        card::Card,
        header::Header,
        status::{failures, Loading},
        time::Time,
    },
    session::require_session,
    types::{Role, SecurityOverview},
};

#[component]
pub fn SecurityPage() -> impl IntoView {
    let auth = require_session();
    view! {
        <Header/>
        <main id="main" tabindex="-1" class="mx-auto max-w-5xl space-y-6 p-4">
            <h1 class="text-xl font-semibold">"Security overview"</h1>
            {move || match auth.role() {
                None => view! { <p class="text-slate-500">"Loading…"</p> }.into_any(),
                Some(Role::Admin) => view! { <Overview/> }.into_any(),
                Some(_) => view! {
                    <p role="alert" data-testid="security-forbidden" class="text-red-700">"Only administrators see the security overview."</p>
                }.into_any(),
            }}
        </main>
    }
}

#[component]
fn Overview() -> impl IntoView {
    let api = use_api();
    let overview = LocalResource::new(move || async move { api.security_overview().await });
    view! {
        <Transition fallback=|| view! { <Loading what="the security overview"/> }>
            <ErrorBoundary fallback=failures>
                {move || Suspend::new(async move { overview.await.map(show) })}
            </ErrorBoundary>
        </Transition>
    }
}

fn show(o: SecurityOverview) -> impl IntoView {
    let revocations = o.recent_revocations.clone();
    let expiring = o.expiring_certificates.clone();
    let groups = o.groups_near_limit.clone();
    view! {
        <section aria-labelledby="signals-title">
            <h2 id="signals-title" class="sr-only">"Signals"</h2>
            <div class="grid grid-cols-2 gap-3 sm:grid-cols-3">
                <Card label="User tokens in use" value=o.active_tokens.users testid="active-user-tokens"/>
                <Card label="Device tokens in use" value=o.active_tokens.devices testid="active-device-tokens"/>
                <Card label="Tokens revoked (24 h)" value=o.revoked_tokens_24h testid="revoked-24h"/>
                <Card label="Failed logins (24 h)" value=o.failed_logins_24h testid="failed-logins-24h"/>
                <Card label="Throttled logins (24 h)" value=o.throttled_logins_24h testid="throttled-24h"/>
                <Card label="Certificates expiring (30 d)" value=o.expiring_count testid="expiring-count"/>
            </div>
            <p class="mt-2 text-sm text-slate-600">"Signing key: " <code class="font-mono" data-testid="signing-key">{o.signing_key.clone()}</code>
                " · as of " <Time ts=o.generated_at.clone()/></p>
        </section>
        <section aria-labelledby="revocations-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="revocations-title" class="text-lg font-semibold">"Recent revocations"</h2>
            {if revocations.is_empty() {
                view! { <p class="text-slate-500">"None."</p> }.into_any()
            } else {
                view! { <ul class="mt-2 space-y-1 text-sm" data-testid="recent-revocations">
                    {revocations.into_iter().map(|e| view! {
                        <li><Time ts=e.ts.clone()/>{format!(" · {} · {} {}", e.event.as_str(),
                            e.subject.unwrap_or_default(), e.actor.map(|a| format!("by {a}")).unwrap_or_default())}</li>
                    }).collect_view()}
                </ul> }.into_any()
            }}
        </section>
        <section aria-labelledby="expiring-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="expiring-title" class="text-lg font-semibold">"Certificates expiring within 30 days"</h2>
            {if expiring.is_empty() {
                view! { <p class="text-slate-500">"None."</p> }.into_any()
            } else {
                view! { <ul class="mt-2 space-y-1 text-sm" data-testid="expiring-devices">
                    {expiring.into_iter().map(|d| view! {
                        <li><a class="text-sky-700 underline" href=format!("/devices/{}", d.id)>{d.registration_id.clone()}</a></li>
                    }).collect_view()}
                </ul> }.into_any()
            }}
        </section>
        <section aria-labelledby="near-limit-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="near-limit-title" class="text-lg font-semibold">"Enrollment groups near their limit"</h2>
            {if groups.is_empty() {
                view! { <p class="text-slate-500">"None."</p> }.into_any()
            } else {
                view! { <ul class="mt-2 space-y-1 text-sm" data-testid="groups-near-limit">
                    {groups.into_iter().map(|g| view! {
                        <li>{format!("{}: {} of {}", g.name, g.registered, g.max_devices.unwrap_or_default())}</li>
                    }).collect_view()}
                </ul> }.into_any()
            }}
        </section>
    }
}
