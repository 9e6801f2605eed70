//! Users: list, create, change role and delete (each change of role or
//! deletion behind a confirmation), reset a password.

use leptos::{ev::SubmitEvent, prelude::*};

use super::{BUTTON, INPUT};
use crate::{
    api::{use_api, ApiFailure},
    components::{
        confirm::{use_confirm, Ask},
        status::{failures, Failure, Loading},
        toast::use_toasts,
    },
    types::{CreateUser, ResetPassword, Role, UpdateUser, UserInfo},
};

/// What the section can do to users.
#[derive(Clone)]
enum Change {
    Create(CreateUser),
    SetRole(i64, Role),
    SetPassword(i64, String),
    Delete(i64),
}

#[component]
pub fn Users() -> impl IntoView {
    let api = use_api();
    let error = RwSignal::new(None::<String>);
    let (confirm, toasts) = (use_confirm(), use_toasts());
    let change = Action::new_local(move |c: &Change| {
        let c = c.clone();
        async move {
            let (r, done) = match c {
                Change::Create(body) => (
                    api.create_user(&body).await.map(|_| ()),
                    format!("User {} created.", body.username),
                ),
                Change::SetRole(id, role) => (
                    api.set_role(id, &UpdateUser { role }).await.map(|_| ()),
                    format!("Role changed to {role}; the user's tokens are revoked."),
                ),
                Change::SetPassword(id, password) => (
                    api.reset_password(id, &ResetPassword { password }).await,
                    "Password reset; the user's tokens are revoked.".to_owned(),
                ),
                Change::Delete(id) => (api.delete_user(id).await, "User deleted.".to_owned()),
            };
            toasts.outcome(&r, done);
            r
        }
    });
    let changed = change.version();
    let users = LocalResource::new(move || {
        changed.track();
        async move { api.users().await }
    });
    let (uname, pw, role) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(Role::Viewer),
    );
    Effect::new(move |_| match change.value().get() {
        Some(Err(ApiFailure { message, .. })) => error.set(Some(message)),
        Some(Ok(())) => {
            error.set(None);
            pw.set(String::new());
        }
        None => {}
    });
    let pending = change.pending();
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        change.dispatch_local(Change::Create(CreateUser {
            username: uname.get_untracked(),
            password: pw.get_untracked(),
            role: role.get_untracked(),
        }));
    };
    let row = move |u: UserInfo| {
        let (id, current) = (u.id, u.role);
        let new_pw = RwSignal::new(String::new());
        // The select shows the role asked for while the dialog is open,
        // and goes back to the user's role if the change is cancelled.
        let shown = RwSignal::new(current);
        let name = u.username.clone();
        let ask_role = move |r: Role| {
            if r == current {
                return;
            }
            shown.set(r);
            confirm.ask_or(
                Ask {
                    title: format!("Make {name} {r}?"),
                    detail: format!(
                        "{name} becomes {r} (now {current}). Every token of theirs is revoked at once: open pages, live streams and MQTT sessions end, and {name} signs in again with the new role."
                    ),
                    confirm: format!("Make {name} {r}"),
                },
                move || {
                    change.dispatch_local(Change::SetRole(id, r));
                },
                move || shown.set(current),
            );
        };
        view! {
            <tr class="border-t border-slate-100">
                <td class="p-1">{u.username.clone()}</td>
                <td class="p-1"><label class="sr-only" for=format!("role-{id}")>{format!("Role of {}", u.username)}</label>
                    <select id=format!("role-{id}") class="rounded border border-slate-300" disabled=move || pending.get()
                        prop:value=move || shown.get().as_str()
                        on:change=move |ev| if let Some(r) = Role::parse(&event_target_value(&ev)) {
                            ask_role(r);
                        }>
                        {Role::ALL.iter().map(|r| view! {
                            <option value=r.as_str() selected=*r == u.role>{r.as_str()}</option>
                        }).collect_view()}
                    </select></td>
                <td class="p-1"><details>
                    <summary class="cursor-pointer text-sky-700 underline">"Reset password"</summary>
                    <form class="mt-1 flex gap-1" on:submit=move |ev| {
                        ev.prevent_default();
                        if !pending.get_untracked() {
                            change.dispatch_local(Change::SetPassword(id, new_pw.get_untracked()));
                            new_pw.set(String::new());
                        }
                    }>
                        <label class="sr-only" for=format!("new-password-{id}")>{format!("New password for {}", u.username)}</label>
                        <input id=format!("new-password-{id}") type="password" class="rounded border border-slate-300 px-1" required
                            minlength="12" autocomplete="new-password" prop:value=move || new_pw.get()
                            on:input=move |ev| new_pw.set(event_target_value(&ev))/>
                        <button type="submit" class="rounded bg-sky-700 px-2 text-white disabled:opacity-50" disabled=move || pending.get()>"Set"</button>
                    </form>
                </details></td>
                <td class="p-1"><button type="button" class="text-red-700 underline disabled:opacity-50" disabled=move || pending.get()
                    on:click={
                        let name = u.username.clone();
                        move |_| confirm.ask(Ask {
                            title: format!("Delete user {name}?"),
                            detail: format!("{name} can no longer sign in, and every token of theirs is revoked at once: open pages, live streams and MQTT sessions end. The audit log keeps their entries."),
                            confirm: format!("Delete {name}"),
                        }, move || { change.dispatch_local(Change::Delete(id)); })
                    }>"Delete"</button></td>
            </tr>
        }
    };
    view! {
        <section aria-labelledby="users-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="users-title" class="text-lg font-semibold">"Users"</h2>
            <Failure message=error.into()/>
            <Transition fallback=|| view! { <Loading what="users"/> }>
                <ErrorBoundary fallback=failures>
                    {move || Suspend::new(async move {
                        users.await.map(|list| view! {
                            <table class="mt-2 min-w-full text-sm"><tbody>
                                <For each=move || list.clone() key=|u: &UserInfo| (u.id, u.role) children=row/>
                            </tbody></table>
                        })
                    })}
                </ErrorBoundary>
            </Transition>
            <form class="mt-3 flex flex-wrap items-end gap-2 text-sm" on:submit=create>
                <label>"Username"<input class=INPUT required on:input=move |ev| uname.set(event_target_value(&ev))/></label>
                <label>"Password"<input type="password" class=INPUT required minlength="12" prop:value=move || pw.get()
                    on:input=move |ev| pw.set(event_target_value(&ev))/></label>
                <label>"Role"<select class=INPUT on:change=move |ev| if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r) }>
                    <option value="viewer">"viewer"</option><option value="operator">"operator"</option><option value="admin">"admin"</option>
                </select></label>
                <button type="submit" class=BUTTON disabled=move || pending.get()>"Create user"</button>
            </form>
        </section>
    }
}
