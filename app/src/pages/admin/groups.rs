//! Enrollment groups: create one with its CA, verify it with a certificate
//! that CA signed for the code shown, revoke it with or without its
//! devices.

use leptos::{ev::SubmitEvent, prelude::*};

use super::{BUTTON, INPUT};
use crate::{
    api::use_api,
    components::{
        confirm::{use_confirm, Ask},
        file::read_chosen_text,
        status::{failures, Failure, Loading},
        time::Time,
        toast::use_toasts,
    },
    types::{EnrollmentGroup, GroupStatus, NewEnrollmentGroup, VerifyGroup},
};

/// What a group's row asks of the server.
#[derive(Clone)]
enum Change {
    Verify(i64, String),
    Revoke(i64, bool),
}

#[component]
pub fn Groups() -> impl IntoView {
    let (api, confirm, toasts) = (use_api(), use_confirm(), use_toasts());
    let (name, ca, max) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |body: &NewEnrollmentGroup| {
        let body = body.clone();
        async move {
            let r = api.create_group(&body).await.map(|_| ());
            toasts.outcome(&r, format!("Group {} created: verify it next", body.name));
            r
        }
    });
    let change = Action::new_local(move |c: &Change| {
        let c = c.clone();
        async move {
            match c {
                Change::Verify(id, pem) => {
                    let r = api
                        .verify_group(
                            id,
                            &VerifyGroup {
                                certificate_pem: pem,
                            },
                        )
                        .await
                        .map(|_| ());
                    toasts.outcome(&r, "Group verified: its devices can register");
                    r
                }
                Change::Revoke(id, devices) => {
                    let r = api.revoke_group(id, devices).await;
                    let done = if devices {
                        "Group and its devices revoked"
                    } else {
                        "Group revoked"
                    };
                    toasts.outcome(&r, done);
                    r
                }
            }
        }
    });
    let (created, changed) = (create.version(), change.version());
    let groups = LocalResource::new(move || {
        created.track();
        changed.track();
        async move { api.groups().await }
    });
    Effect::new(move |_| {
        let failed = [create.value().get(), change.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err());
        error.set(failed.map(|f| f.message));
    });
    let pending = Signal::derive(move || create.pending().get() || change.pending().get());
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        create.dispatch_local(NewEnrollmentGroup {
            name: name.get_untracked(),
            ca_pem: ca.get_untracked(),
            max_devices: max.get_untracked().trim().parse().ok(),
            expires_at: None,
        });
    };
    let row = move |g: EnrollmentGroup| {
        let proof = RwSignal::new(String::new());
        let id = g.id;
        let limit = g
            .max_devices
            .map(|m| format!("{} / {m}", g.registered))
            .unwrap_or_else(|| g.registered.to_string());
        let status = g.status;
        let group = g.name.clone();
        let ask_revoke = move |devices: bool| {
            let (detail, label) = if devices {
                (format!("No device can register through {group} any more, and every device it registered is revoked: their certificates are refused at the next handshake, their tokens at once, their connections and MQTT sessions end."),
                 format!("Revoke {group} and its devices"))
            } else {
                (format!("No device can register through {group} any more. The devices it registered stay active; revoke them one by one, or revoke the group with its devices."),
                 format!("Revoke {group}"))
            };
            confirm.ask(
                Ask {
                    title: format!("Revoke enrollment group {group}?"),
                    detail,
                    confirm: label,
                },
                move || {
                    change.dispatch_local(Change::Revoke(id, devices));
                },
            );
        };
        view! {
            <tr class="border-t border-slate-100 align-top" data-testid=format!("group-row-{}", g.name)>
                <td class="p-1">{g.name.clone()}</td>
                <td class="p-1" data-testid="group-status">{g.status.as_str()}</td>
                <td class="p-1 tabular-nums" data-testid="group-registered">{limit}</td>
                <td class="p-1">{g.ca_subject.clone()}<br/><span class="text-xs text-slate-500">"until " <Time ts=g.ca_not_after.clone()/></span></td>
                <td class="p-1">
                    {(status == GroupStatus::Unverified).then(|| view! {
                        <p class="text-xs">"Have the CA sign a certificate whose CN is "
                            <code class="font-mono" data-testid="verification-code">{g.verification_code.clone()}</code></p>
                        <label class="text-xs">"Its certificate (PEM)"
                            <textarea rows="3" class=INPUT data-testid="verification-certificate" prop:value=move || proof.get()
                                on:input=move |ev| proof.set(event_target_value(&ev))></textarea></label>
                        <input type="file" accept=".pem,.crt,.cer,text/plain" class="mt-1 block text-xs" aria-label="Upload its certificate"
                            on:change=move |ev| read_chosen_text(&ev, move |text| proof.set(text))/>
                        <button type="button" class=format!("{BUTTON} mt-1") disabled=move || pending.get()
                            on:click=move |_| if !pending.get_untracked() { change.dispatch_local(Change::Verify(id, proof.get_untracked())); }>"Verify"</button>
                    })}
                    {(status != GroupStatus::Revoked).then(|| view! {
                        <div class="mt-1 flex flex-wrap gap-2">
                            <button type="button" class="text-red-700 underline disabled:opacity-50" disabled=move || pending.get()
                                on:click={let ask = ask_revoke.clone(); move |_| if !pending.get_untracked() { ask(false) }}>"Revoke group"</button>
                            <button type="button" class="text-red-700 underline disabled:opacity-50" disabled=move || pending.get()
                                on:click=move |_| if !pending.get_untracked() { ask_revoke(true) }>"Revoke group and its devices"</button>
                        </div>
                    })}
                </td>
            </tr>
        }
    };
    view! {
        <section aria-labelledby="groups-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="groups-title" class="text-lg font-semibold">"Enrollment groups"</h2>
            <p class="text-sm text-slate-600">"Devices whose certificate chains to a verified group's CA register themselves (vigil-device register)."</p>
            <form class="mt-2 grid gap-3 sm:grid-cols-2" on:submit=submit>
                <label class="text-sm">"Group name"<input id="group-name" class=INPUT required on:input=move |ev| name.set(event_target_value(&ev))/></label>
                <label class="text-sm">"Most devices (optional)"<input id="group-max" class=INPUT inputmode="numeric" on:input=move |ev| max.set(event_target_value(&ev))/></label>
                <label class="text-sm sm:col-span-2">"The group's CA certificate (PEM)"
                    <textarea id="group-ca" rows="4" class=INPUT prop:value=move || ca.get()
                        on:input=move |ev| ca.set(event_target_value(&ev))></textarea></label>
                <label class="text-sm sm:col-span-2">"…or upload it"
                    <input id="group-ca-file" type="file" accept=".pem,.crt,.cer,text/plain" class="mt-1 block text-sm"
                        on:change=move |ev| read_chosen_text(&ev, move |text| ca.set(text))/></label>
                <div><button type="submit" class=BUTTON disabled=move || pending.get()>"Create group"</button></div>
            </form>
            <Failure message=error.into()/>
            <Transition fallback=|| view! { <Loading what="enrollment groups"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move {
                        groups.await.map(|list| {
                            if list.is_empty() {
                                return view! { <p class="mt-2 text-slate-500">"No enrollment groups yet."</p> }.into_any();
                            }
                            view! {
                                <div class="overflow-x-auto" tabindex="0" role="region" aria-label="Enrollment groups"><table class="mt-2 min-w-full text-sm">
                                    <thead class="text-left"><tr><th class="p-1">"Name"</th><th class="p-1">"Status"</th><th class="p-1">"Registered"</th><th class="p-1">"CA"</th><th class="p-1">"Actions"</th></tr></thead>
                                    <tbody><For each=move || list.clone() key=|g: &EnrollmentGroup| (g.id, g.status, g.registered) children=row/></tbody>
                                </table></div>
                            }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}
