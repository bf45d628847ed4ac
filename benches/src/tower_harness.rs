//! Driving tower services without a runtime, for the benches and the callgrind counter:
//! a no-op waker made once per thread, a service that answers at once, and one that
//! answers `503` with the headers it is given.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tower::Service;

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

thread_local! {
    /// One waker per thread, made once: the harness costs nothing per call but polls.
    static WAKER: Waker = Waker::from(Arc::new(Noop));
}

/// Polls `future` to completion on this thread (spinning if it waits for another).
pub fn block_on<F: Future>(future: F) -> F::Output {
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::hint::spin_loop();
        }
    })
}

/// The inner service: answers at once, as cheap as a service gets.
#[derive(Clone, Copy, Debug)]
pub struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = std::future::Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    #[inline(never)]
    fn call(&mut self, request: u64) -> Self::Future {
        std::future::ready(Ok(black_box(request)))
    }
}

/// An upstream that answers `503` with its headers, and once in 32,768 calls `200` (so
/// that a breaker counting the failures never reaches a `fail_max` of 65,535, however a
/// bench splits its samples).
#[derive(Clone, Debug)]
pub struct Failing {
    headers: http::HeaderMap,
    calls: u64,
}

impl Service<u64> for Failing {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    #[inline(never)]
    fn call(&mut self, request: u64) -> Self::Future {
        black_box(request);
        self.calls = self.calls.wrapping_add(1);
        let mut response = http::Response::new(());
        if self.calls % 32_768 != 0 {
            *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            // What a server's answer costs to build, with or without a layer alike.
            response.headers_mut().clone_from(&self.headers);
        }
        std::future::ready(Ok(response))
    }
}

/// A [`Failing`] upstream answering with the headers `pairs`.
pub fn failing(pairs: &[(&'static str, &str)]) -> Failing {
    let headers = pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_static(k),
                http::HeaderValue::from_str(v).expect("a header value"),
            )
        })
        .collect();
    Failing { headers, calls: 0 }
}

/// The answers the failure benches compare: a `503` with a `Date`, the same with
/// `Retry-After: 30`, and with `Retry-After` as an HTTP-date 30 s after the `Date`.
pub fn failures() -> [Failing; 3] {
    let date = ("date", "Sun, 06 Nov 1994 08:49:37 GMT");
    [
        failing(&[date]),
        failing(&[date, ("retry-after", "30")]),
        failing(&[date, ("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
    ]
}

/// One request through `service`, as a tower caller makes it: ready, then call.
#[inline(always)]
pub fn one_call<S: Service<u64>>(service: &mut S, request: u64) -> bool {
    block_on(async {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .is_ok()
            && service.call(request).await.is_ok()
    })
}
