//! Administration: enroll devices (admins and operators); users, tokens and
//! the audit log (admins). Viewers see nothing of it.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::{
    api,
    components::{file::read_chosen_text, header::Header, time},
    session::{require_session, Auth},
    types::{AuditEntry, CreateUser, EnrollRequest, Role, TokenInfo, UpdateUser, UserInfo},
};

const INPUT: &str = "mt-1 block w-full rounded border border-slate-300 px-2 py-1";
const BUTTON: &str = "rounded bg-sky-700 px-3 py-1 text-white hover:bg-sky-800 disabled:opacity-50";

fn failure(auth: Auth, error: RwSignal<Option<String>>) -> impl Fn(api::ApiFailure) + Copy {
    move |f| error.set(Some(auth.handle(&f)))
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let auth = require_session();
    let role = move || auth.role();
    view! {
        <Header/>
        <main class="mx-auto max-w-5xl space-y-6 p-4">
            <h1 class="text-xl font-semibold">"Administration"</h1>
            {move || match role() {
                None => view! { <p class="text-slate-500">"Loading…"</p> }.into_any(),
                Some(Role::Viewer) => view! {
                    <p role="alert" data-testid="admin-forbidden" class="text-red-700">"Your role (viewer) does not give access to administration."</p>
                }.into_any(),
                Some(r) => view! {
                    <EnrollDevice/>
                    {(r == Role::Admin).then(|| view! { <Users/> <Tokens/> <Audit/> })}
                }.into_any(),
            }}
        </main>
    }
}

#[component]
fn EnrollDevice() -> impl IntoView {
    let auth = require_session();
    let (reg, name, thumb, csr) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let error = RwSignal::new(None::<String>);
    let issued = RwSignal::new(None::<(String, Option<String>)>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(token) = auth.token() else { return };
        let (t, c) = (thumb.get_untracked(), csr.get_untracked());
        let req = EnrollRequest {
            registration_id: reg.get_untracked(),
            name: name.get_untracked(),
            cert_sha256: (!t.trim().is_empty()).then_some(t),
            csr_pem: (!c.trim().is_empty()).then_some(c),
        };
        error.set(None);
        spawn_local(async move {
            match api::enroll(&token, &req).await {
                Ok(res) => issued.set(Some((res.device.registration_id, res.certificate_pem))),
                Err(f) => failure(auth, error)(f),
            }
        });
    };
    view! {
        <section aria-labelledby="enroll-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="enroll-title" class="text-lg font-semibold">"Enroll a device"</h2>
            <form class="mt-2 grid gap-3 sm:grid-cols-2" on:submit=submit>
                <label class="text-sm">"Registration id"<input id="enroll-reg" class=INPUT required on:input=move |ev| reg.set(event_target_value(&ev))/></label>
                <label class="text-sm">"Name"<input id="enroll-name" class=INPUT required on:input=move |ev| name.set(event_target_value(&ev))/></label>
                <label class="text-sm sm:col-span-2">"Self-signed certificate SHA-256 (hex)"
                    <input id="enroll-thumb" class=INPUT on:input=move |ev| thumb.set(event_target_value(&ev))/></label>
                <label class="text-sm sm:col-span-2">"…or a CSR (PEM) for the device CA to sign"
                    <textarea id="enroll-csr" rows="4" class=INPUT prop:value=move || csr.get()
                        on:input=move |ev| csr.set(event_target_value(&ev))></textarea></label>
                <label class="text-sm sm:col-span-2">"…or upload the CSR file"
                    <input id="enroll-csr-file" type="file" accept=".csr,.pem,.req,text/plain" class="mt-1 block text-sm"
                        on:change=move |ev| read_chosen_text(&ev, move |text| csr.set(text))/></label>
                <div><button type="submit" class=BUTTON>"Enroll"</button></div>
            </form>
            <Show when=move || error.with(Option::is_some)><p role="alert" class="mt-2 text-red-700">{move || error.get()}</p></Show>
            {move || issued.get().map(|(reg, pem)| view! {
                <div role="status" class="mt-2 rounded bg-emerald-50 p-2 text-sm">
                    {format!("Enrolled {reg}.")}
                    {pem.map(|p| view! {
                        <a class="ml-2 text-sky-700 underline" download=format!("{reg}.pem")
                           href=format!("data:application/x-pem-file;charset=utf-8,{}", p.replace('\n', "%0A"))>"Download its certificate"</a>
                    })}
                </div>
            })}
        </section>
    }
}

#[component]
fn Users() -> impl IntoView {
    let auth = require_session();
    let users = RwSignal::new(None::<Vec<UserInfo>>);
    let error = RwSignal::new(None::<String>);
    let (uname, pw, role) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(Role::Viewer),
    );
    let reload = move || {
        let Some(token) = auth.token() else { return };
        spawn_local(async move {
            match api::users(&token).await {
                Ok(u) => users.set(Some(u)),
                Err(f) => failure(auth, error)(f),
            }
        });
    };
    Effect::new(move |_| {
        if auth.token_tracked().is_some() {
            reload();
        }
    });
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(token) = auth.token() else { return };
        let body = CreateUser {
            username: uname.get_untracked(),
            password: pw.get_untracked(),
            role: role.get_untracked(),
        };
        error.set(None);
        spawn_local(async move {
            match api::create_user(&token, &body).await {
                Ok(_) => {
                    pw.set(String::new());
                    reload();
                }
                Err(f) => failure(auth, error)(f),
            }
        });
    };
    view! {
        <section aria-labelledby="users-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="users-title" class="text-lg font-semibold">"Users"</h2>
            <Show when=move || error.with(Option::is_some)><p role="alert" class="text-red-700">{move || error.get()}</p></Show>
            <Show when=move || users.with(Option::is_none)><p class="text-slate-500">"Loading…"</p></Show>
            <table class="mt-2 min-w-full text-sm"><tbody>
                {move || users.get().unwrap_or_default().into_iter().map(|u| {
                    let id = u.id;
                    let set = move |r: Role| {
                        let Some(token) = auth.token() else { return };
                        spawn_local(async move {
                            match api::set_role(&token, id, &UpdateUser { role: r }).await {
                                Ok(_) => reload(),
                                Err(f) => failure(auth, error)(f),
                            }
                        });
                    };
                    let del = move |_| {
                        let Some(token) = auth.token() else { return };
                        spawn_local(async move {
                            match api::delete_user(&token, id).await {
                                Ok(()) => reload(),
                                Err(f) => failure(auth, error)(f),
                            }
                        });
                    };
                    view! {
                        <tr class="border-t border-slate-100">
                            <td class="p-1">{u.username.clone()}</td>
                            <td class="p-1"><label class="sr-only" for=format!("role-{id}")>"Role"</label>
                                <select id=format!("role-{id}") class="rounded border border-slate-300" on:change=move |ev| {
                                    if let Some(r) = Role::parse(&event_target_value(&ev)) { set(r) }
                                }>
                                    {[Role::Admin, Role::Operator, Role::Viewer].into_iter().map(|r| view! {
                                        <option value=r.as_str() selected=r == u.role>{r.as_str()}</option>
                                    }).collect_view()}
                                </select></td>
                            <td class="p-1"><button type="button" class="text-red-700 underline" on:click=del>"Delete"</button></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody></table>
            <form class="mt-3 flex flex-wrap items-end gap-2 text-sm" on:submit=create>
                <label>"Username"<input class=INPUT required on:input=move |ev| uname.set(event_target_value(&ev))/></label>
                <label>"Password"<input type="password" class=INPUT required minlength="8" prop:value=move || pw.get()
                    on:input=move |ev| pw.set(event_target_value(&ev))/></label>
                <label>"Role"<select class=INPUT on:change=move |ev| if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r) }>
                    <option value="viewer">"viewer"</option><option value="operator">"operator"</option><option value="admin">"admin"</option>
                </select></label>
                <button type="submit" class=BUTTON>"Create user"</button>
            </form>
        </section>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let auth = require_session();
    let tokens = RwSignal::new(None::<Vec<TokenInfo>>);
    let error = RwSignal::new(None::<String>);
    let filter = RwSignal::new(api::TokenFilter {
        active: Some(true),
        ..Default::default()
    });
    let (state, user, device) = (
        RwSignal::new("active".to_owned()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let reload = move || {
        let Some(token) = auth.token() else { return };
        let f = filter.get_untracked();
        spawn_local(async move {
            match api::tokens(&token, &f).await {
                Ok(t) => tokens.set(Some(t)),
                Err(f) => failure(auth, error)(f),
            }
        });
    };
    Effect::new(move |_| {
        if auth.token_tracked().is_some() {
            reload();
        }
    });
    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        let id = |s: String| s.trim().parse::<i64>().ok();
        filter.set(api::TokenFilter {
            active: match state.get_untracked().as_str() {
                "active" => Some(true),
                "inactive" => Some(false),
                _ => None,
            },
            user_id: id(user.get_untracked()),
            device_id: id(device.get_untracked()),
        });
        reload();
    };
    view! {
        <section aria-labelledby="tokens-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="tokens-title" class="text-lg font-semibold">"Tokens"</h2>
            <form class="my-2 flex flex-wrap items-end gap-2 text-sm" on:submit=apply>
                <label>"State"<select class=INPUT on:change=move |ev| state.set(event_target_value(&ev))>
                    <option value="active">"active"</option><option value="inactive">"revoked or expired"</option><option value="all">"all"</option>
                </select></label>
                <label>"User id"<input class=INPUT inputmode="numeric" on:input=move |ev| user.set(event_target_value(&ev))/></label>
                <label>"Device id"<input class=INPUT inputmode="numeric" on:input=move |ev| device.set(event_target_value(&ev))/></label>
                <button type="submit" class=BUTTON>"Filter"</button>
            </form>
            <Show when=move || error.with(Option::is_some)><p role="alert" class="text-red-700">{move || error.get()}</p></Show>
            {move || match tokens.get() {
                None => view! { <p class="text-slate-500">"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! { <p class="text-slate-500">"No tokens match."</p> }.into_any(),
                Some(list) => view! {
                    <div class="overflow-x-auto"><table class="mt-2 min-w-full text-sm">
                        <thead class="text-left"><tr><th class="p-1">"Token id"</th><th class="p-1">"Owner"</th><th class="p-1">"Expires (UTC)"</th><th class="p-1">"State"</th><th></th></tr></thead>
                        <tbody>{list.into_iter().map(|t| {
                            let id = t.token_id.clone();
                            let owner = match (t.user_id, t.device_id) {
                                (Some(u), _) => format!("user {u}"),
                                (_, Some(d)) => format!("device {d}"),
                                _ => String::new(),
                            };
                            let revoke = move |_| {
                                let (Some(token), id) = (auth.token(), id.clone()) else { return };
                                spawn_local(async move {
                                    match api::revoke_token(&token, &id).await {
                                        Ok(()) => reload(),
                                        Err(f) => failure(auth, error)(f),
                                    }
                                });
                            };
                            let state = if t.blacklist { t.blacklist_reason.clone().unwrap_or_else(|| "revoked".into()) } else { "active".into() };
                            view! { <tr class="border-t border-slate-100">
                                <td class="p-1 font-mono text-xs">{t.token_id.clone()}</td><td class="p-1">{owner}</td>
                                <td class="p-1">{time::short(&t.expires_at)}</td><td class="p-1">{state}</td>
                                <td class="p-1">{(!t.blacklist).then(|| view! {
                                    <button type="button" class="text-red-700 underline" on:click=revoke>"Revoke"</button>
                                })}</td>
                            </tr> }
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Audit() -> impl IntoView {
    let auth = require_session();
    let entries = RwSignal::new(None::<Vec<AuditEntry>>);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let Some(token) = auth.token_tracked() else {
            return;
        };
        spawn_local(async move {
            match api::audit(&token).await {
                Ok(e) => entries.set(Some(e)),
                Err(f) => failure(auth, error)(f),
            }
        });
    });
    view! {
        <section aria-labelledby="audit-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="audit-title" class="text-lg font-semibold">"Audit log"</h2>
            <Show when=move || error.with(Option::is_some)><p role="alert" class="text-red-700">{move || error.get()}</p></Show>
            <Show when=move || entries.with(Option::is_none)><p class="text-slate-500">"Loading…"</p></Show>
            <div class="max-h-96 overflow-auto"><table class="mt-2 min-w-full text-sm">
                <thead class="text-left"><tr><th class="p-1">"Time (UTC)"</th><th class="p-1">"Event"</th><th class="p-1">"Actor"</th><th class="p-1">"Subject"</th><th class="p-1">"Address"</th><th class="p-1">"Detail"</th></tr></thead>
                <tbody>{move || entries.get().unwrap_or_default().into_iter().map(|e| view! {
                    <tr class="border-t border-slate-100"><td class="p-1">{time::short(&e.ts)}</td><td class="p-1">{e.event}</td>
                        <td class="p-1">{e.actor}</td><td class="p-1">{e.subject}</td><td class="p-1">{e.ip}</td><td class="p-1">{e.detail}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
        </section>
    }
}
