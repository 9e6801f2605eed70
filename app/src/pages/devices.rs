//! The devices table: status, last seen and the latest value of each
//! sensor, updated live; search and a status filter.

use std::collections::{BTreeMap, HashMap};

use leptos::{prelude::*, task::spawn_local};

use crate::{
    api,
    components::time,
    live::{self, Subscription},
    session::use_auth,
    types::{Device, DeviceStatus},
};

type Latest = HashMap<i64, BTreeMap<String, (f64, Option<String>)>>;

#[component]
pub fn DevicesPanel() -> impl IntoView {
    let auth = use_auth();
    let devices = RwSignal::new(None::<Vec<Device>>);
    let error = RwSignal::new(None::<String>);
    let latest = RwSignal::new(Latest::new());
    let search = RwSignal::new(String::new());
    let status = RwSignal::new(String::from("all"));
    let stream = StoredValue::new_local(None::<Subscription>);
    let live_ready = RwSignal::new(false);

    Effect::new(move |_| {
        let Some(token) = auth.token_tracked() else {
            return;
        };
        let t = token.clone();
        spawn_local(async move {
            match api::devices(&t).await {
                Ok(list) => {
                    // Start from the stored newest values; the stream updates them.
                    latest.update(|l| {
                        for d in &list {
                            let known = l.entry(d.id).or_default();
                            for r in &d.latest {
                                known
                                    .entry(r.sensor.clone())
                                    .or_insert((r.value, r.unit.clone()));
                            }
                        }
                    });
                    devices.set(Some(list));
                }
                Err(f) => error.set(Some(auth.handle(&f))),
            }
        });
        let sub = live::subscribe(
            token,
            None,
            move || live_ready.set(true),
            move |batch| {
                let senders: std::collections::HashSet<i64> =
                    batch.iter().map(|r| r.device_id).collect();
                latest.update(|l| {
                    for r in batch {
                        l.entry(r.device_id)
                            .or_default()
                            .insert(r.sensor, (r.value, r.unit));
                    }
                });
                // The devices in this batch were seen now.
                devices.update(|d| {
                    if let (Some(d), Some(now)) = (d.as_mut(), time::now_rfc3339()) {
                        for dev in d.iter_mut().filter(|dev| senders.contains(&dev.id)) {
                            dev.last_seen = Some(now.clone());
                        }
                    }
                });
            },
            live::end_handler(auth),
        );
        stream.set_value(Some(sub));
    });
    on_cleanup(move || stream.set_value(None));

    let visible = move || {
        let q = search.get().to_lowercase();
        let st = status.get();
        devices.get().map(|list| {
            list.into_iter()
                .filter(|d| st == "all" || d.status.as_str() == st)
                .filter(|d| {
                    q.is_empty()
                        || d.registration_id.to_lowercase().contains(&q)
                        || d.name.to_lowercase().contains(&q)
                })
                .collect::<Vec<_>>()
        })
    };

    view! {
        <section class="mt-4" aria-labelledby="devices-title" data-live=move || if live_ready.get() { "ready" } else { "connecting" }>
            <div class="mb-2 flex flex-wrap items-end gap-3">
                <h2 id="devices-title" class="mr-auto text-lg font-semibold">"Devices"</h2>
                <label class="text-sm">"Search"
                    <input type="search" class="ml-1 rounded border border-slate-300 px-2 py-1" placeholder="id or name"
                        prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
                </label>
                <label class="text-sm">"Status"
                    <select class="ml-1 rounded border border-slate-300 px-2 py-1"
                        on:change=move |ev| status.set(event_target_value(&ev))>
                        <option value="all">"All"</option>
                        <option value="active">"Active"</option>
                        <option value="revoked">"Revoked"</option>
                    </select>
                </label>
            </div>
            {move || match (visible(), error.get()) {
                (_, Some(e)) => view! { <p role="alert" class="text-red-700">{e}</p> }.into_any(),
                (None, None) => view! { <p class="text-slate-500">"Loading devices…"</p> }.into_any(),
                (Some(list), None) if list.is_empty() => view! {
                    <p class="text-slate-500" data-testid="devices-empty">"No devices match. Enroll one from the Admin page or with vigil-device."</p>
                }.into_any(),
                (Some(list), None) => view! {
                    <div class="overflow-x-auto">
                        <table class="min-w-full border-collapse bg-white text-sm" data-testid="devices-table">
                            <thead class="bg-slate-100 text-left">
                                <tr><th class="p-2">"Registration id"</th><th class="p-2">"Name"</th><th class="p-2">"Status"</th>
                                    <th class="p-2">"Last seen (UTC)"</th><th class="p-2">"Latest"</th></tr>
                            </thead>
                            <tbody>
                                {list.into_iter().map(|d| {
                                    let id = d.id;
                                    let badge = if d.status == DeviceStatus::Active { "bg-emerald-100 text-emerald-800" } else { "bg-red-100 text-red-800" };
                                    view! {
                                        <tr class="border-t border-slate-200" data-testid=format!("device-row-{}", d.registration_id)>
                                            <td class="p-2"><a class="text-sky-700 underline" href=format!("/devices/{id}")>{d.registration_id.clone()}</a></td>
                                            <td class="p-2">{d.name.clone()}</td>
                                            <td class="p-2"><span class=format!("rounded px-2 py-0.5 {badge}") data-testid="device-status">{d.status.as_str()}</span></td>
                                            <td class="p-2">{d.last_seen.as_deref().map(time::short).unwrap_or_else(|| "never".into())}</td>
                                            <td class="p-2" data-testid="device-latest">{move || latest.with(|l| l.get(&id).map(|m| {
                                                m.iter().map(|(s, (v, u))| format!("{s}: {v}{}", u.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", ")
                                            }))}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            }}
        </section>
    }
}
