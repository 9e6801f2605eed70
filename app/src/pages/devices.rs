//! The devices table: status, last seen and the latest value of each
//! sensor, updated live row by row (new devices join it as they are
//! enrolled or register); search and a status filter (all, active,
//! online, offline, revoked), which `?status=` and `?within=` (seconds that
//! count as online) preset, as the overview's cards link.

use std::collections::{BTreeMap, HashSet};

use leptos::{prelude::*, reactive::send_wrapper_ext::SendOption};

use crate::{
    api::use_api,
    components::{
        status::{failures, Loading},
        time,
    },
    live::{self, Subscription},
    session::use_auth,
    types::{Command, CommandStatus, Device, DeviceStatus, LiveReading},
};

/// One row: what does not change in place, and signals for what the live
/// stream updates, so a batch touches only the rows it concerns.
#[derive(Clone)]
struct Row {
    id: i64,
    registration_id: String,
    name: String,
    status: DeviceStatus,
    last_seen: ArcRwSignal<Option<String>>,
    /// Sensor → (value, unit).
    latest: ArcRwSignal<BTreeMap<String, (f64, Option<String>)>>,
    /// Commands not yet final.
    open_commands: ArcRwSignal<i64>,
}

impl Row {
    fn new(d: Device) -> Row {
        let latest = d
            .latest
            .into_iter()
            .map(|r| (r.sensor, (r.value, r.unit)))
            .collect();
        Row {
            id: d.id,
            registration_id: d.registration_id,
            name: d.name,
            status: d.status,
            last_seen: ArcRwSignal::new(d.last_seen),
            latest: ArcRwSignal::new(latest),
            open_commands: ArcRwSignal::new(d.open_commands),
        }
    }

    /// Whether the device was seen at or after `since` (ms since the
    /// epoch); reads `last_seen`, so a filter follows the live stream.
    fn seen_since(&self, since: f64) -> bool {
        self.last_seen
            .with(|t| t.as_deref().is_some_and(|t| time::millis(t) >= since))
    }

    fn matches(&self, query: &str, status: &str, online_since: f64) -> bool {
        let active = self.status == DeviceStatus::Active;
        let state = match status {
            "all" => true,
            "online" => active && self.seen_since(online_since),
            "offline" => active && !self.seen_since(online_since),
            s => self.status.as_str() == s,
        };
        state
            && (query.is_empty()
                || self.registration_id.to_lowercase().contains(query)
                || self.name.to_lowercase().contains(query))
    }
}

/// Applies a live batch to the rows it names.
fn apply(rows: &[Row], batch: Vec<LiveReading>) {
    let now = time::now_rfc3339();
    let senders: HashSet<i64> = batch.iter().map(|r| r.device_id).collect();
    for row in rows.iter().filter(|r| senders.contains(&r.id)) {
        row.latest.update(|latest| {
            for r in batch.iter().filter(|r| r.device_id == row.id) {
                latest.insert(r.sensor.clone(), (r.value, r.unit.clone()));
            }
        });
        if now.is_some() {
            row.last_seen.set(now.clone());
        }
    }
}

/// A command's change moves its device's open count: `queued` is only ever
/// announced when a command is created, and a final status only once.
fn count_command(rows: &[Row], c: &Command) {
    let delta = match c.status {
        CommandStatus::Queued => 1,
        CommandStatus::Delivered => return,
        _ => -1,
    };
    if let Some(row) = rows.iter().find(|r| r.id == c.device_id) {
        row.open_commands.update(|n| *n = (*n + delta).max(0));
    }
}

/// The filter's values.
const STATUSES: [&str; 5] = ["all", "active", "online", "offline", "revoked"];
/// Seconds that count as online unless `?within=` says otherwise, as on
/// the server.
const DEFAULT_WITHIN_S: u32 = 300;

#[component]
pub fn DevicesPanel() -> impl IntoView {
    let api = use_api();
    let auth = use_auth();
    let list = LocalResource::new(move || async move { api.devices().await });
    let rows = RwSignal::new(Vec::<Row>::new());
    let search = RwSignal::new(String::new());
    let status = RwSignal::new(String::from("all"));
    let within = RwSignal::new(DEFAULT_WITHIN_S);
    let query = leptos_router::hooks::use_query_map();
    Effect::new(move |_| {
        query.with(|q| {
            if let Some(s) = q.get("status").filter(|s| STATUSES.contains(&s.as_str())) {
                status.set(s);
            }
            if let Some(w) = q.get("within").and_then(|w| w.parse::<u32>().ok()) {
                within.set(w);
            }
        })
    });
    let live_ready = RwSignal::new(false);
    let stream = StoredValue::new(SendOption::<Subscription>::new_local(None));

    Effect::new(move |_| {
        if let Some(Ok(devices)) = list.get() {
            rows.set(devices.into_iter().map(Row::new).collect());
        }
    });
    Effect::new(move |_| {
        let Some(token) = auth.token() else { return };
        let sub = live::subscribe(
            token,
            None,
            live::Handlers {
                ready: move || live_ready.set(true),
                readings: move |batch| rows.with_untracked(|rows| apply(rows, batch)),
                command: move |change: live::Change| match change {
                    live::Change::Command(c) => rows.with_untracked(|rows| count_command(rows, &c)),
                    // A device new to the platform joins the list.
                    live::Change::Device(d) => rows.update(|rows| {
                        if !rows.iter().any(|r| r.id == d.id) {
                            rows.push(Row::new(*d));
                        }
                    }),
                },
                end: live::end_handler(auth),
            },
        );
        stream.update_value(|s| **s = Some(sub));
    });
    on_cleanup(move || stream.update_value(|s| **s = None));

    let visible = move || {
        let (q, st) = (search.get().to_lowercase(), status.get());
        let online_since = time::now_ms() - f64::from(within.get()) * 1000.0;
        rows.get()
            .into_iter()
            .filter(|r| r.matches(&q, &st, online_since))
            .collect::<Vec<_>>()
    };

    view! {
        <section id="devices" class="mt-4" aria-labelledby="devices-title" data-live=move || if live_ready.get() { "ready" } else { "connecting" }>
            <div class="mb-2 flex flex-wrap items-end gap-3">
                <h2 id="devices-title" class="mr-auto text-lg font-semibold">"Devices"</h2>
                <label class="text-sm">"Search"
                    <input type="search" class="ml-1 rounded border border-slate-300 px-2 py-1" placeholder="id or name"
                        prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
                </label>
                <label class="text-sm">"Status"
                    <select class="ml-1 rounded border border-slate-300 px-2 py-1" data-testid="devices-status-filter"
                        prop:value=move || status.get()
                        on:change=move |ev| status.set(event_target_value(&ev))>
                        <option value="all">"All"</option>
                        <option value="active">"Active"</option>
                        <option value="online">{move || format!("Online (seen within {})", time::span(within.get()))}</option>
                        <option value="offline">"Offline"</option>
                        <option value="revoked">"Revoked"</option>
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <Loading what="devices"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move {
                        list.await.map(|_| view! {
                            <Show when=move || !visible().is_empty() fallback=|| view! {
                                <p class="text-slate-500" data-testid="devices-empty">"No devices match. Enroll one from the Admin page or with vigil-device."</p>
                            }>
                                <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Devices">
                                    <table class="min-w-full border-collapse bg-white text-sm" data-testid="devices-table">
                                        <thead class="bg-slate-100 text-left">
                                            <tr><th class="p-2">"Registration id"</th><th class="p-2">"Name"</th><th class="p-2">"Status"</th>
                                                <th class="p-2">"Last seen (UTC)"</th><th class="p-2">"Latest"</th><th class="p-2">"Open commands"</th></tr>
                                        </thead>
                                        <tbody>
                                            <For each=visible key=|r: &Row| r.id children=device_row/>
                                        </tbody>
                                    </table>
                                </div>
                            </Show>
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

fn device_row(row: Row) -> impl IntoView {
    let Row {
        id,
        registration_id,
        name,
        status,
        last_seen,
        latest,
        open_commands,
    } = row;
    let badge = if status == DeviceStatus::Active {
        "bg-emerald-100 text-emerald-800"
    } else {
        "bg-red-100 text-red-800"
    };
    view! {
        <tr class="border-t border-slate-200" data-testid=format!("device-row-{registration_id}")>
            <td class="p-2"><a class="text-sky-700 underline" href=format!("/devices/{id}")>{registration_id.clone()}</a></td>
            <td class="p-2">{name}</td>
            <td class="p-2"><span class=format!("rounded px-2 py-0.5 {badge}") data-testid="device-status">{status.as_str()}</span></td>
            <td class="p-2">{move || last_seen.get().as_deref().map(time::short).unwrap_or_else(|| "never".into())}</td>
            <td class="p-2" data-testid="device-latest">{move || latest.with(|m| {
                m.iter().map(|(s, (v, u))| format!("{s}: {v}{}", u.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", ")
            })}</td>
            <td class="p-2 tabular-nums" data-testid="device-open-commands">{move || open_commands.get()}</td>
        </tr>
    }
}
