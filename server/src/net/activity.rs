//! What a connection is doing, for its watchdog: whether a first request
//! has come, how many requests are in flight (a request stays in flight
//! until its response body is finished, so an open live stream counts),
//! since when it has been idle, and since when a write has been waiting on
//! a client that does not read.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper::body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const NONE: u64 = u64::MAX;

pub struct Activity {
    accepted: Instant,
    seen_request: AtomicBool,
    in_flight: AtomicUsize,
    /// Milliseconds after `accepted` at which the last request ended.
    idle_since: AtomicU64,
    /// Milliseconds after `accepted` at which a write began to wait, or NONE.
    write_blocked_since: AtomicU64,
}

impl Activity {
    pub fn new(accepted: Instant) -> Arc<Activity> {
        Arc::new(Activity {
            accepted,
            seen_request: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(NONE),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// A request has started: in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.seen_request.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    pub fn seen_request(&self) -> bool {
        self.seen_request.load(Ordering::Relaxed)
    }

    /// How long no request has been in flight; `None` while one is.
    pub fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.idle_since.load(Ordering::Acquire);
        Some(Duration::from_millis(self.now_ms().saturating_sub(since)))
    }

    /// How long a write has been waiting for the client to read.
    pub fn write_stalled_for(&self) -> Option<Duration> {
        match self.write_blocked_since.load(Ordering::Acquire) {
            NONE => None,
            since => Some(Duration::from_millis(self.now_ms().saturating_sub(since))),
        }
    }

    fn write_waits(&self) {
        if self.write_blocked_since.load(Ordering::Relaxed) == NONE {
            self.write_blocked_since
                .store(self.now_ms(), Ordering::Release);
        }
    }

    fn write_moved(&self) {
        self.write_blocked_since.store(NONE, Ordering::Release);
    }
}

/// A request in flight; its end is when this is dropped.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(self.0.now_ms(), Ordering::Release);
        }
    }
}

pin_project! {
    /// A response body that keeps its request in flight until it ends.
    pub struct Guarded<B> {
        #[pin]
        inner: B,
        guard: Option<InFlight>,
    }
}

impl<B> Guarded<B> {
    pub fn new(inner: B, guard: InFlight) -> Self {
        Guarded {
            inner,
            guard: Some(guard),
        }
    }
}

impl<B: Body> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = frame {
            this.guard.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

pin_project! {
    /// A request body that must arrive whole before a deadline: a client
    /// trickling its body cannot hold a connection for ever.
    pub struct Deadline<B> {
        #[pin]
        inner: B,
        #[pin]
        deadline: tokio::time::Sleep,
    }
}

impl<B> Deadline<B> {
    pub fn new(inner: B, within: Duration) -> Self {
        Deadline {
            inner,
            deadline: tokio::time::sleep(within),
        }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The connection's byte stream, noting when writes wait on the client.
    pub struct Watched<T> {
        #[pin]
        inner: T,
        activity: Arc<Activity>,
    }
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<T: AsyncRead> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        noted(this.activity, this.inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        noted(this.activity, this.inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        noted(this.activity, this.inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

fn noted<R>(activity: &Activity, poll: Poll<R>) -> Poll<R> {
    match poll {
        Poll::Pending => activity.write_waits(),
        Poll::Ready(_) => activity.write_moved(),
    }
    poll
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_with_nothing_in_flight() {
        let a = Activity::new(Instant::now());
        assert!(!a.seen_request());
        assert!(a.idle_for().is_some());
        let first = a.begin();
        let second = a.begin();
        assert!(a.seen_request());
        assert_eq!(a.idle_for(), None);
        drop(first);
        assert_eq!(a.idle_for(), None, "one still in flight");
        drop(second);
        assert!(a.idle_for().is_some());
    }
}
