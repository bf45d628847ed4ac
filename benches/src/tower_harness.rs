//! Driving tower services without a runtime, for the benches and the callgrind counter:
//! a no-op waker made once per thread, and a service that answers at once.

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
