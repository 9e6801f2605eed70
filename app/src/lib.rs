#![recursion_limit = "256"]
//! The Vigil dashboard (Leptos): pages, components, the browser's API
//! client, and the API types shared with the server.

pub mod api;
pub mod components;
pub mod live;
pub mod pages;
pub mod session;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
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
    // Served by Vigil, the page's shell links the stylesheet; the Trunk
    // build (`csr`) has no shell.
    let style =
        cfg!(feature = "csr").then(|| view! { <Stylesheet id="leptos" href="/pkg/vigil.css"/> });
    view! {
        {style}
        <Title text="Vigil"/>
        <Router>
            <Routes fallback=|| view! { <pages::not_found::NotFound/> }>
                <Route path=path!("/login") view=pages::login::LoginPage/>
                <Route path=path!("/") view=pages::home::HomePage/>
                <Route path=path!("/devices/:id") view=pages::device::DevicePage/>
                <Route path=path!("/admin") view=pages::admin::AdminPage/>
                <Route path=path!("/password") view=pages::password::PasswordPage/>
                <Route path=path!("/security") view=pages::security::SecurityPage/>
            </Routes>
        </Router>
    }
}
