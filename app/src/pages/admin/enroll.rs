//! Enrolling a device by thumbprint or CSR (pasted or uploaded).

use leptos::{ev::SubmitEvent, prelude::*};

use super::{BUTTON, INPUT};
use crate::{
    api::use_api,
    components::{file::read_chosen_text, status::Failure, toast::use_toasts},
    types::EnrollRequest,
};

#[component]
pub fn EnrollDevice() -> impl IntoView {
    let (api, toasts) = (use_api(), use_toasts());
    let (reg, name, thumb, csr) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let enroll = Action::new_local(move |req: &EnrollRequest| {
        let req = req.clone();
        async move {
            let r = api.enroll(&req).await;
            toasts.outcome(&r, format!("Enrolled {}", req.registration_id));
            r
        }
    });
    let pending = enroll.pending();
    let error = Signal::derive(move || match enroll.value().get() {
        Some(Err(f)) => Some(f.message),
        _ => None,
    });
    let issued = move || match enroll.value().get() {
        Some(Ok(res)) => Some((res.device.registration_id, res.certificate_pem)),
        _ => None,
    };
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let (t, c) = (thumb.get_untracked(), csr.get_untracked());
        let req = EnrollRequest {
            registration_id: reg.get_untracked(),
            name: name.get_untracked(),
            cert_sha256: (!t.trim().is_empty()).then_some(t),
            csr_pem: (!c.trim().is_empty()).then_some(c),
        };
        enroll.dispatch_local(req);
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
                <div><button type="submit" class=BUTTON disabled=move || pending.get()>"Enroll"</button></div>
            </form>
            <Failure message=error/>
            {move || issued().map(|(reg, pem)| view! {
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
