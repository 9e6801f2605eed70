//! Users: list, create, change role, delete.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use super::{failure, BUTTON, INPUT};
use crate::{
    api,
    session::require_session,
    types::{CreateUser, Role, UpdateUser, UserInfo},
};

#[component]
pub fn Users() -> impl IntoView {
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
