//! A device's commands: the form that sends one (operators and admins),
//! and the list, newest first, whose statuses change live.

use leptos::prelude::*;

use crate::{
    api::use_api,
    components::{status::Failure, time::Time, toast::use_toasts},
    session::use_auth,
    types::{Command, CommandStatus, NewCommand, Role},
};

/// How far along its life a status is: a late event never moves a
/// command back.
fn stage(s: CommandStatus) -> u8 {
    match s {
        CommandStatus::Queued => 0,
        CommandStatus::Delivered => 1,
        _ => 2,
    }
}

/// Puts a command (new, or a later state of one listed) in the list,
/// newest first.
pub fn upsert(list: &ArcRwSignal<Vec<Command>>, c: Command) {
    list.update(|cs| match cs.iter_mut().find(|x| x.id == c.id) {
        Some(old) if old.status.is_final() || stage(old.status) > stage(c.status) => {}
        Some(old) => *old = c,
        None => {
            cs.push(c);
            cs.sort_by(|a, b| b.id.cmp(&a.id));
        }
    });
}

fn badge(s: CommandStatus) -> &'static str {
    match s {
        CommandStatus::Queued => "bg-slate-100 text-slate-800",
        CommandStatus::Delivered => "bg-sky-100 text-sky-800",
        CommandStatus::Succeeded => "bg-emerald-100 text-emerald-800",
        CommandStatus::Failed => "bg-red-100 text-red-800",
        CommandStatus::Expired => "bg-amber-100 text-amber-900",
        CommandStatus::Cancelled => "bg-slate-200 text-slate-700",
    }
}

/// The payload field's text as JSON: empty is `null`.
fn parse_payload(text: &str) -> Result<Option<serde_json::Value>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| format!("The payload is not valid JSON: {e}."))
}

/// `list` is reference-counted (not owned by a component): the live
/// stream and the panel both hold it, whichever goes first.
#[component]
pub fn CommandsPanel(
    device_id: i64,
    list: ArcRwSignal<Vec<Command>>,
    active: bool,
) -> impl IntoView {
    let (api, auth, toasts) = (use_api(), use_auth(), use_toasts());
    let loaded = LocalResource::new(move || async move { api.commands(device_id).await });
    let error = RwSignal::new(None::<String>);
    let filled = list.clone();
    Effect::new(move |_| match loaded.get() {
        Some(Ok(cs)) => {
            for c in cs {
                upsert(&filled, c);
            }
        }
        Some(Err(f)) => error.set(Some(f.message)),
        None => {}
    });
    let can_operate = move || matches!(auth.role(), Some(Role::Admin | Role::Operator));
    // Read straight from the shared signal, which no disposal can take
    // away from a view still being torn down.
    let (form_list, shown, rows) = (list.clone(), list.clone(), list);
    let cancel = Action::new_local(move |id: &i64| {
        let id = *id;
        async move {
            let r = api.cancel_command(id).await;
            toasts.outcome(&r, format!("Command {id} cancelled"));
            match r {
                Ok(()) => error.set(None),
                Err(f) => error.set(Some(f.message)),
            }
        }
    });
    view! {
        <section aria-labelledby="commands-title" class="rounded bg-white p-4 shadow-sm">
            <h2 id="commands-title" class="text-lg font-semibold">"Commands"</h2>
            <Show when=move || can_operate() && active>
                <SendForm device_id list=form_list.clone()/>
            </Show>
            <Failure message=error.into()/>
            <Show when=move || shown.with(|l| !l.is_empty()) fallback=|| view! {
                <p class="text-slate-500" data-testid="no-commands">"No commands yet."</p>
            }>
                <div class="max-h-96 overflow-auto" tabindex="0" role="region" aria-label="Commands">
                    <table class="min-w-full text-sm" data-testid="commands-table">
                        <thead class="sticky top-0 bg-slate-100 text-left"><tr>
                            <th class="p-1">"Sent"</th><th class="p-1">"Name"</th><th class="p-1">"Status"</th>
                            <th class="p-1">"Result"</th><th class="p-1"><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            <For each={ let rows = rows.clone(); move || rows.get() } key=|c: &Command| (c.id, c.status) let:c>
                                <CommandRow c can_cancel=can_operate() on_cancel=move |id| { cancel.dispatch_local(id); }/>
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
        </section>
    }
}

#[component]
fn CommandRow(c: Command, can_cancel: bool, on_cancel: impl Fn(i64) + 'static) -> impl IntoView {
    let id = c.id;
    let open = !c.status.is_final();
    let result = c
        .result
        .as_ref()
        .map(|r| serde_json::to_string_pretty(r).unwrap_or_default());
    let payload = serde_json::to_string(&c.payload).unwrap_or_default();
    view! {
        <tr class="border-t border-slate-100 align-top" data-testid="command-row" data-status=c.status.as_str()>
            <td class="p-1 whitespace-nowrap"><Time ts=c.created_at.clone()/></td>
            <td class="p-1"><span class="font-mono">{c.name.clone()}</span>
                <div class="max-w-xs truncate font-mono text-xs text-slate-500" title=payload.clone()>{payload.clone()}</div></td>
            <td class="p-1"><span class=format!("rounded px-2 py-0.5 {}", badge(c.status)) data-testid="command-status">{c.status.as_str()}</span></td>
            <td class="p-1">{result.map(|r| view! { <pre class="max-w-md overflow-auto whitespace-pre-wrap font-mono text-xs" data-testid="command-result">{r}</pre> })}</td>
            <td class="p-1">{(open && can_cancel).then(|| view! {
                <button type="button" class="rounded border border-slate-400 px-2 py-0.5 text-xs" on:click=move |_| on_cancel(id)>"Cancel"</button>
            })}</td>
        </tr>
    }
}

#[component]
fn SendForm(device_id: i64, list: ArcRwSignal<Vec<Command>>) -> impl IntoView {
    let (api, toasts) = (use_api(), use_toasts());
    let name = RwSignal::new(String::new());
    let payload = RwSignal::new(String::new());
    let ttl = RwSignal::new(String::from("60"));
    let problem = RwSignal::new(None::<String>);
    let send = Action::new_local(move |body: &NewCommand| {
        let (body, list) = (body.clone(), list.clone());
        async move {
            match api.send_command(device_id, &body).await {
                Ok(c) => {
                    problem.set(None);
                    toasts.done(format!("Command {} sent ({})", c.name, c.id));
                    upsert(&list, c);
                }
                Err(f) => problem.set(Some(f.message)),
            }
        }
    });
    let sending = send.pending();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = match parse_payload(&payload.get_untracked()) {
            Ok(p) => p,
            Err(e) => return problem.set(Some(e)),
        };
        let ttl_s = match ttl.get_untracked().trim().parse::<i64>() {
            Ok(t) if (5..=86_400).contains(&t) => t,
            _ => return problem.set(Some("Time to answer: 5 to 86400 seconds.".into())),
        };
        if !sending.get_untracked() {
            send.dispatch_local(NewCommand {
                name: name.get_untracked().trim().to_owned(),
                payload: body,
                ttl_s: Some(ttl_s),
            });
        }
    };
    view! {
        <form class="my-2 grid gap-2 text-sm sm:grid-cols-[1fr_2fr_auto_auto] sm:items-end" on:submit=on_submit data-testid="command-form">
            <label class="flex flex-col">"Name"
                <input required maxlength="64" pattern="[A-Za-z0-9_.:\\-]{1,64}" class="rounded border border-slate-300 px-2 py-1 font-mono"
                    placeholder="reboot" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
            </label>
            <label class="flex flex-col">"Payload (JSON, optional)"
                <textarea rows="1" class="rounded border border-slate-300 px-2 py-1 font-mono" placeholder="{\"delay_s\": 5}"
                    prop:value=move || payload.get() on:input=move |ev| payload.set(event_target_value(&ev))></textarea>
            </label>
            <label class="flex flex-col">"Time to answer (s)"
                <input type="number" min="5" max="86400" class="w-28 rounded border border-slate-300 px-2 py-1"
                    prop:value=move || ttl.get() on:input=move |ev| ttl.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="rounded bg-sky-700 px-3 py-1 text-white disabled:opacity-50" disabled=move || sending.get()>"Send"</button>
        </form>
        <Failure message=problem.into()/>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_payload_is_null_and_bad_json_is_explained() {
        assert_eq!(parse_payload("  "), Ok(None));
        assert_eq!(
            parse_payload("{\"a\": 1}"),
            Ok(Some(serde_json::json!({"a": 1})))
        );
        assert!(parse_payload("{a:1}")
            .unwrap_err()
            .contains("not valid JSON"));
    }
}
