//! One HTTPS connection, from its handshake to close: the first request
//! head within the header deadline (counted from accept), then HTTP/1 or HTTP/2 until the
//! client is done, idle too long, stalls our writes, or its watch ends it.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo};
use hyper::{body::Incoming, Request, Response};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tower::{Service, ServiceExt};

use super::{
    activity::{Activity, Deadline, Guarded, Watched},
    Accepted, ConnectionWatch, Limits,
};

/// A connection asked to close gets this long to finish what is in flight.
const GRACE: Duration = Duration::from_secs(5);

pub(super) struct Conn<S> {
    pub accepted: Accepted,
    pub http: Arc<auto::Builder<TokioExecutor>>,
    pub service: S,
    pub watch: Option<Arc<dyn ConnectionWatch>>,
    pub limits: Limits,
}

impl<S, B> Conn<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    pub async fn run(self) {
        let Conn {
            accepted:
                Accepted {
                    tls,
                    peer,
                    peer_cert,
                    accepted,
                    stopping,
                },
            http,
            service,
            watch,
            limits,
        } = self;
        let head_deadline = accepted + limits.header_timeout;
        // Resolves when the watch (if any) says the connection must end.
        let mut ended = watch.map_or_else(
            || -> futures_util::future::BoxFuture<'static, ()> { Box::pin(std::future::pending()) },
            |w| w.ended(peer_cert.as_ref()),
        );
        let mut ending = false;
        // After the instance's stop, what is in flight gets `GRACE`.
        let mut stop_by = None;
        let activity = Activity::new(accepted.into_std());
        let body_within = limits.idle_timeout;
        let on_request = activity.clone();
        let app = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let in_flight = on_request.begin();
            req.extensions_mut().insert(ConnectInfo(peer));
            if let Some(cert) = &peer_cert {
                req.extensions_mut().insert(cert.clone());
            }
            let req = req.map(|body| {
                if hyper::body::Body::is_end_stream(&body) {
                    Body::new(body)
                } else {
                    Body::new(Deadline::new(body, body_within))
                }
            });
            let call = service.clone().oneshot(req);
            async move {
                let res = call.await?;
                Ok::<_, Infallible>(res.map(|b| Guarded::new(b, in_flight)))
            }
        });
        let io = TokioIo::new(Watched::new(tls, activity.clone()));
        let conn = http.serve_connection_with_upgrades(io, app);
        tokio::pin!(conn);
        let every =
            (limits.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut tick = tokio::time::interval(every);
        let result = loop {
            tokio::select! {
                res = conn.as_mut() => break res,
                _ = tokio::time::sleep_until(head_deadline), if !activity.seen_request() => {
                    tracing::debug!(%peer, "no request head within the header deadline; closing");
                    return;
                }
                () = &mut ended, if !ending => {
                    ending = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = stopping.stopped(), if stop_by.is_none() => {
                    stop_by = Some(tokio::time::Instant::now() + GRACE);
                    if !ending {
                        ending = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
                () = tokio::time::sleep_until(stop_by.unwrap_or(head_deadline)), if stop_by.is_some() => {
                    tracing::debug!(%peer, "a request outlived the stop's grace; closing");
                    return;
                }
                _ = tick.tick() => {
                    if activity.write_stalled_for().is_some_and(|d| d >= limits.idle_timeout) {
                        tracing::debug!(%peer, "client stopped reading; closing");
                        return;
                    }
                    if activity.seen_request()
                        && activity.idle_for().is_some_and(|d| d >= limits.idle_timeout)
                    {
                        conn.as_mut().graceful_shutdown();
                        break tokio::time::timeout(GRACE, conn.as_mut()).await.unwrap_or(Ok(()));
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
