//! How a call ends, as the state machine records it and its observers hear of it: the
//! [`Verdict`], and the [`CallOutcome`] with the [`CallError`] the call returned.
//!
//! Core types: the state machine takes them from permits and hands them to `events`,
//! which passes them on to listeners, `tracing` and the fleet. They are public at `breaker_runtime::Verdict` and
//! `breaker_runtime::listener::{CallOutcome, CallError}`.

use std::fmt;
use std::time::Duration;

use crate::traceparent::TraceParent;

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
    error: Option<Seen<'a>>,
    elapsed: Option<Duration>,
}

impl<'a> CallOutcome<'a> {
    pub(crate) fn new(
        verdict: Verdict,
        error: Option<Seen<'a>>,
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
        self.error.map(|seen| seen.error)
    }

    /// The error with the name of its type, where the code that saw it knew it.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn seen(&self) -> Option<Seen<'a>> {
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
/// `Display` shows the error's message (its own `Display`) when the code that saw it
/// knew one, its `Debug` form otherwise.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum CallError<'a> {
    /// The error type implements [`std::error::Error`] and is `'static`, or dereferences
    /// to such an error (`Box<dyn Error + Send + Sync>`, `anyhow::Error`): its
    /// `source()` chain is there, and `downcast_ref` works. What `#[circuit_breaker]`
    /// functions and the tower layer show.
    Error(&'a (dyn std::error::Error + 'static)),
    /// An error type seen through its `Display` and `Debug` forms, without its
    /// `std::error::Error` side: what generic code such as
    /// [`CircuitBreaker::call`](crate::CircuitBreaker::call) and
    /// [`Permit::record`](crate::Permit::record) can show of any error type.
    Display(&'a (dyn DisplayDebug + 'a)),
    /// Any other error type, through its `Debug` form (a `#[circuit_breaker]` function
    /// whose error type implements `Debug` alone).
    Debug(&'a (dyn fmt::Debug + 'a)),
}

/// `Display` and `Debug` together, for [`CallError::Display`]: implemented for every
/// type that has both.
pub trait DisplayDebug: fmt::Display + fmt::Debug {}

impl<T: fmt::Display + fmt::Debug + ?Sized> DisplayDebug for T {}

impl<'a> CallError<'a> {
    /// The error as a [`std::error::Error`], when it is one.
    pub fn as_error(&self) -> Option<&'a (dyn std::error::Error + 'static)> {
        match *self {
            CallError::Error(error) => Some(error),
            CallError::Display(_) | CallError::Debug(_) => None,
        }
    }
}

impl fmt::Display for CallError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Error(error) => fmt::Display::fmt(error, f),
            CallError::Display(error) => fmt::Display::fmt(error, f),
            CallError::Debug(error) => fmt::Debug::fmt(error, f),
        }
    }
}

impl fmt::Debug for CallError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Error(error) => fmt::Debug::fmt(error, f),
            CallError::Display(error) => fmt::Debug::fmt(error, f),
            CallError::Debug(error) => fmt::Debug::fmt(error, f),
        }
    }
}

/// An error a call returned, on its way from the call to the state machine's observers:
/// what listeners see, and the name of its type where the code that saw it knew it (a
/// boxed `dyn Error` has none), for a low-cardinality `error.type`.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub(crate) error: CallError<'a>,
    /// `std::any::type_name` of the error's type: a function, one word, so that the
    /// name costs nothing until an event needs it.
    type_name: fn() -> &'static str,
}

// What `tracing` names an error by: the rest of the crate needs only its view.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
impl<'a> Seen<'a> {
    /// `error`, of type `E`.
    #[inline(always)]
    pub(crate) fn of<E: ?Sized>(error: CallError<'a>) -> Self {
        Seen {
            error,
            type_name: std::any::type_name::<E>,
        }
    }

    /// The name of the error's type; `None` for a trait object (`Box<dyn Error>`),
    /// which names none.
    fn type_name(&self) -> Option<&'static str> {
        Some((self.type_name)()).filter(|name| !name.contains("dyn "))
    }

    /// A low-cardinality name for the error, never its message: an `io::Error` by its
    /// kind (`ConnectionRefused`) however it is wrapped (bare, in a `Box<dyn Error>`, in
    /// an `anyhow::Error`); any other error by its type and, for an enum, the variant
    /// (the identifier its `Debug` form starts with). `_OTHER` when neither is known
    /// (OpenTelemetry's fallback).
    pub(crate) fn error_type(&self) -> String {
        if let Some(kind) = self.io_kind() {
            return kind;
        }
        let variant = leading_identifier(&format!("{:?}", self.error));
        match (self.type_name(), variant) {
            (Some(ty), Some(v)) if !ty.rsplit("::").next().is_some_and(|last| last == v) => {
                format!("{ty}::{v}")
            }
            (Some(ty), _) => ty.to_string(),
            (None, Some(v)) => v,
            (None, None) => "_OTHER".to_string(),
        }
    }

    /// The kind of an `io::Error`: found by downcasting where the error is seen as a
    /// `std::error::Error`, and otherwise (an `io::Error`, or a type-erased box, seen
    /// through its `Debug` form) read from the `Debug` form `io::Error` writes.
    fn io_kind(&self) -> Option<String> {
        if let Some(error) = self.error.as_error() {
            return error
                .downcast_ref::<std::io::Error>()
                .map(|io| format!("{:?}", io.kind()));
        }
        let erased = self
            .type_name()
            .map_or(true, |name| name == std::any::type_name::<std::io::Error>());
        erased
            .then(|| io_kind(&format!("{:?}", self.error)))
            .flatten()
    }

    /// The error's message: its `Display` where it has one, otherwise (an error type
    /// that is only `Debug`) its `Debug` form, without the quotes of a bare string.
    pub(crate) fn message(&self) -> String {
        let text = self.error.to_string();
        match (
            self.error,
            text.strip_prefix('"').and_then(|t| t.strip_suffix('"')),
        ) {
            (CallError::Debug(_), Some(inner)) => inner.replace("\\\"", "\""),
            _ => text,
        }
    }
}

#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
/// An `io::Error`'s kind from the `Debug` form `io::Error` writes for each of its
/// representations: `Kind(ConnectionReset)`, `Os { code: 111, kind: ConnectionRefused,
/// .. }`, `Custom { kind: Other, .. }`, `Error { kind: InvalidData, message: .. }`.
/// Nothing for any other form, so another error's message is never read as a kind.
fn io_kind(debug: &str) -> Option<String> {
    let after = match debug.strip_prefix("Kind(") {
        Some(after) => after,
        None => ["Os { code: ", "Custom { kind: ", "Error { kind: "]
            .iter()
            .find(|shape| debug.starts_with(**shape))
            .and_then(|_| debug.find("kind: ").map(|at| &debug[at + "kind: ".len()..]))?,
    };
    let kind: String = after
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let well_formed = kind.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    well_formed.then_some(kind)
}

#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
/// The identifier a `Debug` form starts with, if it is a variant's or a type's name
/// (`Timeout`, `Refused { .. }`, `Kind(Other)`): capitalised, and alone or followed by
/// its fields. Never a message (`Connection refused`, `"refused"`, `refused`) nor a
/// number.
fn leading_identifier(debug: &str) -> Option<String> {
    let ident: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let rest = &debug[ident.len()..];
    let starts_well = ident.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    let ends_well = rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {");
    (starts_well && ends_well).then_some(ident)
}

/// What made a transition, as the state machine tells its observers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger<'a> {
    /// A call: its outcome once it ended (a trip, a probe's result), `None` when its
    /// admission made the change (open to half-open, as the probe).
    Call(Option<&'a CallOutcome<'a>>),
    /// A half-open probe outlived `half_open_timeout`: it failed, as of its deadline.
    ProbeTimedOut,
    /// A manual transition on this breaker (`open()`, `close()`, ...).
    Manual,
    /// The fleet's verdict, applied to this replica, with where it began when the
    /// record says (the opening span of the replica that tripped, or the probe call
    /// that closed the fleet).
    Fleet(#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))] Option<TraceParent>),
}

impl<'a> Trigger<'a> {
    /// The call outcome behind the transition, if a call's result made it.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn outcome(self) -> Option<&'a CallOutcome<'a>> {
        match self {
            Trigger::Call(outcome) => outcome,
            _ => None,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::io;

    use super::*;

    #[derive(Debug)]
    enum Fetch {
        #[allow(dead_code)] // read through `Debug`
        Refused {
            port: u16,
        },
        Timeout,
    }

    impl fmt::Display for Fetch {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fetch failed")
        }
    }

    impl std::error::Error for Fetch {}

    #[derive(Debug)]
    struct Plain;

    #[test]
    fn an_outcome_hands_back_what_it_was_given() {
        let error = Fetch::Timeout;
        let seen = Seen::of::<Fetch>(CallError::Error(&error));
        let outcome =
            CallOutcome::new(Verdict::Failure, Some(seen), Some(Duration::from_millis(3)));
        assert_eq!(outcome.verdict(), Verdict::Failure);
        assert_eq!(outcome.elapsed(), Some(Duration::from_millis(3)));
        assert_eq!(outcome.error().unwrap().to_string(), "fetch failed");
        assert!(outcome.seen().is_some());
        let bare = CallOutcome::new(Verdict::Ignore, None, None);
        assert!(bare.error().is_none() && bare.elapsed().is_none());
        assert!(Trigger::Call(Some(&outcome)).outcome().is_some());
        assert!(Trigger::Call(None).outcome().is_none());
        assert!(Trigger::Manual.outcome().is_none() && Trigger::ProbeTimedOut.outcome().is_none());
    }

    #[test]
    fn a_call_error_shows_each_form_as_it_was_seen() {
        let error = Fetch::Refused { port: 80 };
        let as_error = CallError::Error(&error);
        let as_display = CallError::Display(&error);
        let as_debug = CallError::Debug(&error);
        assert_eq!(as_error.to_string(), "fetch failed");
        assert_eq!(as_display.to_string(), "fetch failed");
        assert_eq!(as_debug.to_string(), "Refused { port: 80 }");
        for form in [as_error, as_display, as_debug] {
            assert_eq!(format!("{form:?}"), "Refused { port: 80 }");
        }
        assert!(as_error.as_error().is_some());
        assert!(as_display.as_error().is_none() && as_debug.as_error().is_none());
    }

    #[test]
    fn error_type_is_the_io_kind_however_it_is_wrapped() {
        let bare = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let seen = Seen::of::<io::Error>(CallError::Error(&bare));
        assert_eq!(seen.error_type(), "ConnectionRefused");
        // Seen through Debug alone (a generic caller), as an io::Error or a boxed one.
        let seen = Seen::of::<io::Error>(CallError::Debug(&bare));
        assert_eq!(seen.error_type(), "ConnectionRefused");
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(bare);
        let seen = Seen::of::<Box<dyn std::error::Error + Send + Sync>>(CallError::Debug(&boxed));
        assert_eq!(seen.error_type(), "ConnectionRefused");
        let os = io::Error::from_raw_os_error(111);
        let seen = Seen::of::<io::Error>(CallError::Debug(&os));
        assert_eq!(seen.error_type(), "ConnectionRefused");
        let simple = io::Error::from(io::ErrorKind::TimedOut);
        let seen = Seen::of::<io::Error>(CallError::Display(&simple));
        assert_eq!(seen.error_type(), "TimedOut");
    }

    #[test]
    fn error_type_names_the_type_and_variant_never_the_message() {
        let refused = Fetch::Refused { port: 80 };
        let seen = Seen::of::<Fetch>(CallError::Error(&refused));
        let ty = std::any::type_name::<Fetch>();
        assert_eq!(seen.error_type(), format!("{ty}::Refused"));
        // A struct's Debug form starts with its own name: not said twice.
        let seen = Seen::of::<Plain>(CallError::Debug(&Plain));
        assert_eq!(seen.error_type(), std::any::type_name::<Plain>());
        // A type-erased error names no type: its variant, or nothing.
        let boxed: Box<dyn std::error::Error> = Box::new(Fetch::Timeout);
        let seen = Seen::of::<Box<dyn std::error::Error>>(CallError::Debug(&boxed));
        assert_eq!(seen.error_type(), "Timeout");
        let message: Box<dyn std::error::Error> = "connection refused".into();
        let seen = Seen::of::<Box<dyn std::error::Error>>(CallError::Debug(&message));
        assert_eq!(seen.error_type(), "_OTHER");
        // A type that is not an io::Error is never read as one, whatever its Debug says.
        let seen = Seen::of::<&str>(CallError::Debug(&"Kind(Other)"));
        assert_eq!(seen.error_type(), "&str");
    }

    #[test]
    fn the_message_is_display_or_an_unquoted_debug() {
        let refused = Fetch::Refused { port: 80 };
        assert_eq!(
            Seen::of::<Fetch>(CallError::Error(&refused)).message(),
            "fetch failed"
        );
        assert_eq!(
            Seen::of::<Fetch>(CallError::Debug(&refused)).message(),
            "Refused { port: 80 }"
        );
        let quoted = String::from("said \"no\"");
        assert_eq!(
            Seen::of::<String>(CallError::Debug(&quoted)).message(),
            "said \"no\""
        );
        assert_eq!(
            Seen::of::<String>(CallError::Display(&quoted)).message(),
            "said \"no\""
        );
    }

    #[test]
    fn io_kinds_are_read_from_each_shape_and_nothing_else() {
        assert_eq!(
            io_kind("Kind(ConnectionReset)").as_deref(),
            Some("ConnectionReset")
        );
        assert_eq!(
            io_kind("Os { code: 111, kind: ConnectionRefused, message: \"x\" }").as_deref(),
            Some("ConnectionRefused")
        );
        assert_eq!(
            io_kind("Custom { kind: Other, error: \"x\" }").as_deref(),
            Some("Other")
        );
        assert_eq!(
            io_kind("Error { kind: InvalidData, message: \"x\" }").as_deref(),
            Some("InvalidData")
        );
        assert_eq!(io_kind("Refused { kind: Other }"), None, "another shape");
        assert_eq!(io_kind("Kind(lowercase)"), None, "not a kind's name");
        assert_eq!(io_kind("Os { code: 1 }"), None, "no kind");
        assert_eq!(
            io_kind("Kind(Under_score9)").as_deref(),
            Some("Under_score9")
        );
    }

    #[test]
    fn a_leading_identifier_is_a_capitalised_name_alone_or_with_fields() {
        assert_eq!(leading_identifier("Timeout").as_deref(), Some("Timeout"));
        assert_eq!(
            leading_identifier("Refused { port: 1 }").as_deref(),
            Some("Refused")
        );
        assert_eq!(leading_identifier("Kind(Other)").as_deref(), Some("Kind"));
        assert_eq!(
            leading_identifier("Snake_case2(1)").as_deref(),
            Some("Snake_case2")
        );
        assert_eq!(leading_identifier("Connection refused"), None);
        assert_eq!(leading_identifier("\"refused\""), None);
        assert_eq!(leading_identifier("refused"), None);
        assert_eq!(leading_identifier("404"), None);
        assert_eq!(leading_identifier("Refused{x}"), None);
    }
}
