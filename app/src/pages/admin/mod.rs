//! Administration: enroll devices (admins and operators); enrollment
//! groups, users, tokens, signing keys and the audit log (admins). Viewers see nothing of it. One section a file.

mod audit;
mod enroll;
mod groups;
mod keys;
mod tokens;
mod users;

use leptos::prelude::*;

use crate::{components::header::Header, session::require_session, types::Role};
use audit::Audit;
use enroll::EnrollDevice;
use groups::Groups;
use keys::SigningKeys;
use tokens::Tokens;
use users::Users;

pub const INPUT: &str = "mt-1 block w-full rounded border border-slate-300 px-2 py-1";
pub const BUTTON: &str =
    "rounded bg-sky-700 px-3 py-1 text-white hover:bg-sky-800 disabled:opacity-50";

#[component]
pub fn AdminPage() -> impl IntoView {
    let auth = require_session();
    let role = move || auth.role();
    view! {
        <Header/>
        <main id="main" tabindex="-1" class="mx-auto max-w-5xl space-y-6 p-4">
            <h1 class="text-xl font-semibold">"Administration"</h1>
            {move || match role() {
                None => view! { <p class="text-slate-500">"Loading…"</p> }.into_any(),
                Some(Role::Viewer) => view! {
                    <p role="alert" data-testid="admin-forbidden" class="text-red-700">"Your role (viewer) does not give access to administration."</p>
                }.into_any(),
                Some(r) => view! {
                    <EnrollDevice/>
                    {(r == Role::Admin).then(|| view! { <Groups/> <Users/> <Tokens/> <SigningKeys/> <Audit/> })}
                }.into_any(),
            }}
        </main>
    }
}
