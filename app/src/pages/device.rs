//! One device: enrollment data, a live chart per sensor (last 10 minutes),
//! a history table over a chosen time range, and revocation.

use std::collections::BTreeMap;

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_params_map;

use crate::{
    api,
    components::{
        chart::{LineChart, Point},
        header::Header,
        time,
    },
    live::{self, Subscription},
    session::require_session,
    types::{Device, DeviceStatus, Reading, Role},
};

/// How much history the charts keep.
const WINDOW_MS: f64 = 10.0 * 60.0 * 1000.0;

type Series = BTreeMap<String, (Option<String>, Vec<Point>)>;

fn add(series: &mut Series, sensor: String, unit: Option<String>, ts: String, v: f64) {
    let t = time::millis(&ts);
    let (u, pts) = series.entry(sensor).or_default();
    if unit.is_some() {
        *u = unit;
    }
    pts.push(Point { t, v, ts });
    pts.sort_by(|a, b| a.t.total_cmp(&b.t));
    let newest = pts.last().map(|p| p.t).unwrap_or(t);
    pts.retain(|p| p.t >= newest - WINDOW_MS);
}

#[component]
pub fn DevicePage() -> impl IntoView {
    let auth = require_session();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()));
    let device = RwSignal::new(None::<Device>);
    let error = RwSignal::new(None::<String>);
    let series = RwSignal::new(Series::new());
    let history = RwSignal::new(None::<Vec<Reading>>);
    let (from, to) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let confirm = RwSignal::new(false);
    let notice = RwSignal::new(None::<String>);
    let stream = StoredValue::new_local(None::<Subscription>);
    let live_ready = RwSignal::new(false);

    let load_device = move |token: String, id: i64| {
        spawn_local(async move {
            match api::device(&token, id).await {
                Ok(d) => device.set(Some(d)),
                Err(f) => error.set(Some(auth.handle(&f))),
            }
        });
    };
    let load_history = move |token: String, id: i64| {
        let (f, t) = (from.get_untracked(), to.get_untracked());
        let as_rfc = |s: String| (!s.is_empty()).then(|| format!("{s}:00Z"));
        spawn_local(async move {
            match api::readings(&token, id, as_rfc(f).as_deref(), as_rfc(t).as_deref(), 200).await {
                Ok(rows) => history.set(Some(rows)),
                Err(f) => error.set(Some(auth.handle(&f))),
            }
        });
    };

    Effect::new(move |_| {
        let (Some(token), Some(id)) = (auth.token_tracked(), id()) else {
            return;
        };
        // Another device in the same page component: start afresh.
        stream.set_value(None);
        live_ready.set(false);
        device.set(None);
        history.set(None);
        series.set(Series::new());
        load_device(token.clone(), id);
        load_history(token.clone(), id);
        // The charts start from recent history, then follow the stream.
        let t = token.clone();
        spawn_local(async move {
            if let Ok(rows) = api::readings(&t, id, None, None, 500).await {
                series.update(|s| {
                    for r in rows {
                        add(s, r.sensor, r.unit, r.ts, r.value);
                    }
                });
            }
        });
        let sub = live::subscribe(
            token,
            Some(id),
            move || live_ready.set(true),
            move |batch| {
                series.update(|s| {
                    for r in batch.into_iter().filter(|r| r.device_id == id) {
                        add(s, r.sensor, r.unit, r.ts, r.value);
                    }
                })
            },
            live::end_handler(auth),
        );
        stream.set_value(Some(sub));
    });
    on_cleanup(move || stream.set_value(None));

    let revoke = move |_| {
        if !confirm.get_untracked() {
            confirm.set(true);
            return;
        }
        confirm.set(false);
        let (Some(token), Some(id)) = (auth.token(), id()) else {
            return;
        };
        spawn_local(async move {
            match api::revoke_device(&token, id).await {
                Ok(()) => {
                    notice.set(Some(
                        "Device revoked: its certificate and tokens are refused.".into(),
                    ));
                    load_device(token, id);
                }
                Err(f) => error.set(Some(auth.handle(&f))),
            }
        });
    };
    let revoke_tokens = move |_| {
        let (Some(token), Some(id)) = (auth.token(), id()) else {
            return;
        };
        spawn_local(async move {
            match api::revoke_device_tokens(&token, id).await {
                Ok(()) => notice.set(Some("The device's tokens are revoked.".into())),
                Err(f) => error.set(Some(auth.handle(&f))),
            }
        });
    };
    let is_admin = move || auth.role() == Some(Role::Admin);
    let can_operate = move || matches!(auth.role(), Some(Role::Admin | Role::Operator));

    view! {
        <Header/>
        <main class="mx-auto max-w-5xl space-y-4 p-4">
            <p><a href="/" class="text-sky-700 underline">"← All devices"</a></p>
            <Show when=move || error.with(Option::is_some)>
                <p role="alert" class="text-red-700">{move || error.get()}</p>
            </Show>
            <Show when=move || notice.with(Option::is_some)>
                <p role="status" class="rounded bg-emerald-50 p-2 text-emerald-900">{move || notice.get()}</p>
            </Show>
            {move || device.get().map(|d| {
                let active = d.status == DeviceStatus::Active;
                view! {
                    <section aria-labelledby="device-title" class="rounded bg-white p-4 shadow-sm">
                        <h1 id="device-title" class="text-xl font-semibold">{d.name.clone()}</h1>
                        <dl class="mt-2 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                            <dt class="font-medium">"Registration id"</dt><dd>{d.registration_id.clone()}</dd>
                            <dt class="font-medium">"Status"</dt><dd data-testid="device-status">{d.status.as_str()}</dd>
                            <dt class="font-medium">"Enrollment"</dt><dd>{d.enrollment.as_str().replace('_', "-")}</dd>
                            <dt class="font-medium">"Certificate SHA-256"</dt><dd class="break-all font-mono text-xs">{d.cert_sha256.clone()}</dd>
                            <dt class="font-medium">"Enrolled (UTC)"</dt><dd>{time::short(&d.created_at)}</dd>
                            <dt class="font-medium">"Last seen (UTC)"</dt><dd>{d.last_seen.as_deref().map(time::short).unwrap_or_else(|| "never".into())}</dd>
                        </dl>
                        <div class="mt-3 flex flex-wrap gap-2">
                            <Show when=move || can_operate() && active>
                                <button type="button" class="rounded border border-slate-400 px-3 py-1 text-sm" on:click=revoke_tokens>"Revoke tokens"</button>
                            </Show>
                            <Show when=move || is_admin() && active>
                                <button type="button" class="rounded bg-red-700 px-3 py-1 text-sm text-white" on:click=revoke>
                                    {move || if confirm.get() { "Confirm: revoke this device" } else { "Revoke device" }}
                                </button>
                            </Show>
                        </div>
                    </section>
                }
            })}
            <section aria-labelledby="live-title" data-live=move || if live_ready.get() { "ready" } else { "connecting" }>
                <h2 id="live-title" class="mb-2 text-lg font-semibold">"Live (last 10 minutes)"</h2>
                {move || {
                    let sensors: Vec<String> = series.with(|s| s.keys().cloned().collect());
                    if sensors.is_empty() {
                        return view! { <p class="text-slate-500" data-testid="no-readings">"No readings yet."</p> }.into_any();
                    }
                    sensors.into_iter().map(|name| {
                        let key = name.clone();
                        let key2 = name.clone();
                        let unit = Signal::derive(move || series.with(|s| s.get(&key).and_then(|(u, _)| u.clone())));
                        let points = Signal::derive(move || series.with(|s| s.get(&key2).map(|(_, p)| p.clone()).unwrap_or_default()));
                        view! { <LineChart sensor=name unit points/> }
                    }).collect_view().into_any()
                }}
            </section>
            <section aria-labelledby="history-title" class="rounded bg-white p-4 shadow-sm">
                <h2 id="history-title" class="text-lg font-semibold">"History"</h2>
                <form class="my-2 flex flex-wrap items-end gap-3 text-sm" on:submit=move |ev| {
                    ev.prevent_default();
                    if let (Some(t), Some(id)) = (auth.token(), id()) { load_history(t, id) }
                }>
                    <label>"From (UTC) " <input type="datetime-local" class="rounded border border-slate-300 px-2 py-1"
                        on:input=move |ev| from.set(event_target_value(&ev))/></label>
                    <label>"To (UTC) " <input type="datetime-local" class="rounded border border-slate-300 px-2 py-1"
                        on:input=move |ev| to.set(event_target_value(&ev))/></label>
                    <button type="submit" class="rounded bg-sky-700 px-3 py-1 text-white">"Show"</button>
                </form>
                {move || match history.get() {
                    None => view! { <p class="text-slate-500">"Loading…"</p> }.into_any(),
                    Some(rows) if rows.is_empty() => view! { <p class="text-slate-500">"No readings in this range."</p> }.into_any(),
                    Some(rows) => view! {
                        <div class="max-h-96 overflow-auto">
                            <table class="min-w-full text-sm" data-testid="history-table">
                                <thead class="sticky top-0 bg-slate-100 text-left"><tr><th class="p-1">"Time (UTC)"</th><th class="p-1">"Sensor"</th><th class="p-1">"Value"</th></tr></thead>
                                <tbody>{rows.into_iter().map(|r| view! {
                                    <tr class="border-t border-slate-100"><td class="p-1">{time::short(&r.ts)}</td><td class="p-1">{r.sensor}</td>
                                        <td class="p-1">{format!("{}{}", r.value, r.unit.unwrap_or_default())}</td></tr>
                                }).collect_view()}</tbody>
                            </table>
                        </div>
                    }.into_any(),
                }}
            </section>
        </main>
    }
}
