//! How a call ends, as the state machine records it and its observers hear of it: the
//! [`Verdict`], and the [`CallOutcome`] with the [`CallError`] the call returned.
//!
//! Core types: the state machine takes them from permits and hands them to `events`,
//! which passes them on to listeners, `tracing` and the fleet. They are public at `breaker_runtime::Verdict` and
//! `breaker_runtime::listener::{CallOutcome, CallError}`.

use std::fmt;
use std::time::Duration;

/// What a finished call means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The dependency answered: resets the failure streak, counts towards closing.
    Success,
    /// The dependency failed.
    Failure,
    /// Says nothing about the dependency: counts nothing, frees a probe slot.
    Ignore,
}

/// How a call ended, for [`Listener::on_outcome`](crate::Listener::on_outcome).
#[derive(Debug, Clone, Copy)]
pub struct CallOutcome<'a> {
    verdict: Verdict,
    error: Option<CallError<'a>>,
    elapsed: Option<Duration>,
}

impl<'a> CallOutcome<'a> {
    pub(crate) fn new(
        verdict: Verdict,
        error: Option<CallError<'a>>,
        elapsed: Option<Duration>,
    ) -> Self {
        CallOutcome {
            verdict,
            error,
            elapsed,
        }
    }

    /// How the call counted: a success (also an excluded error), a failure (also a
    /// panic or a `call_timeout`), or neutral (an ignored error, a cancelled call).
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The error the call returned, whatever its verdict: `None` for an `Ok`, and for a
    /// call that reported no value (a panic, a cancellation, a bare
    /// [`Permit::failure`](crate::Permit::failure)).
    pub fn error(&self) -> Option<CallError<'a>> {
        self.error
    }

    /// How long the call ran, by the breaker's clock, from admission to verdict (to the
    /// microsecond; calls over 71 minutes wrap). `None` when no listener was attached
    /// when the call was admitted, so its start was not read.
    pub fn elapsed(&self) -> Option<Duration> {
        self.elapsed
    }
}

/// The error a call returned, as a listener sees it.
///
/// `Display` shows the error's message when it is a [`std::error::Error`], its `Debug`
/// form otherwise.
#[derive(Clone, Copy)]
pub enum CallError<'a> {
    /// The error type implements [`std::error::Error`] and is `'static`, or dereferences
    /// to such an error (`Box<dyn Error + Send + Sync>`, `anyhow::Error`): its
    /// `source()` chain is there, and `downcast_ref` works.
    Error(&'a (dyn std::error::Error + 'static)),
    /// Any other error type, through its `Debug` form.
    Debug(&'a (dyn fmt::Debug + 'a)),
}

impl<'a> CallError<'a> {
    /// The error as a [`std::error::Error`], when it is one.
    pub fn as_error(&self) -> Option<&'a (dyn std::error::Error + 'static)> {
        match *self {
            CallError::Error(error) => Some(error),
            CallError::Debug(_) => None,
        }
    }
}

impl fmt::Display for CallError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Error(error) => fmt::Display::fmt(error, f),
            CallError::Debug(error) => fmt::Debug::fmt(error, f),
        }
    }
}

impl fmt::Debug for CallError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Error(error) => fmt::Debug::fmt(error, f),
            CallError::Debug(error) => fmt::Debug::fmt(error, f),
        }
    }
}
