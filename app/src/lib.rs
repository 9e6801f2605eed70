#![recursion_limit = "256"]
//! The Vigil dashboard (Leptos): pages, components, the browser's API
//! client, and the API types shared with the server.

pub mod api;
pub mod components;
pub mod live;
pub mod pages;
mod routes;
pub mod session;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy,
};

/// The HTML document around the app, rendered by the server, with a
/// Content-Security-Policy whose script nonce is fresh for each page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        leptos::nonce::provide_nonce();
        set_csp();
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                // The stylesheet by the build's hashed name (`Assets`).
                <link rel="stylesheet" id="leptos" href=format!("/{}/{}.css", options.site_pkg_dir, options.output_name)/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

/// Scripts only from this origin or with this page's nonce, wasm allowed to
/// compile, no inline styles or scripts otherwise, no framing, requests only
/// to this origin.
#[cfg(feature = "ssr")]
fn set_csp() {
    use http::{header::CONTENT_SECURITY_POLICY, HeaderValue};
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let auth = session::provide();
    api::provide_api(auth);
    components::toast::provide();
    components::confirm::provide();
    components::time::provide_zone();
    // Served by Vigil, the page's shell links the stylesheet; the Trunk
    // build (`csr`) has no shell.
    let style =
        cfg!(feature = "csr").then(|| view! { <Stylesheet id="leptos" href="/pkg/vigil.css"/> });
    view! {
        {style}
        <Title text="Vigil"/>
        <components::toast::ToastRegion/>
        <components::confirm::ConfirmDialog/>
        <Router>
            <FocusOnNavigate/>
            <Routes fallback=|| view! { <pages::not_found::NotFound/> }>
                <Route path=path!("/login") view=pages::login::LoginPage/>
                <Route path=path!("/") view={Lazy::<routes::Home>::new()}/>
                <Route path=path!("/devices/:id") view={Lazy::<routes::Device>::new()}/>
                <Route path=path!("/admin") view={Lazy::<routes::Admin>::new()}/>
                <Route path=path!("/password") view={Lazy::<routes::Password>::new()}/>
                <Route path=path!("/security") view={Lazy::<routes::Security>::new()}/>
            </Routes>
        </Router>
    }
}

/// After a move to another page, the focus goes to the top of the
/// document (a name-only element before the skip link), as a full page
/// load would put it: the next Tab reaches the skip link, and a screen
/// reader hears that the page changed, instead of the focus staying
/// where the old page's element was.
#[component]
fn FocusOnNavigate() -> impl IntoView {
    let path = leptos_router::hooks::use_location().pathname;
    Effect::new(move |before: Option<String>| {
        let now = path.get();
        if before.is_some_and(|b| b != now) {
            #[cfg(feature = "browser")]
            {
                use wasm_bindgen::JsCast;
                let top = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.get_element_by_id("page-top"))
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                if let Some(top) = top {
                    let _ = top.focus();
                }
            }
        }
        now
    });
    view! { <span id="page-top" tabindex="-1" class="sr-only">"Vigil"</span> }
}
