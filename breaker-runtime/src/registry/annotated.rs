//! The breakers of `#[circuit_breaker]` functions: listed from program start, and owners
//! of their names whatever the order things are built in.
//!
//! Each expansion submits its function's breaker to [`inventory`](https://docs.rs/inventory).
//! The registry knows them only as something to build ([`BuildOnRead`]), so it depends
//! on nothing of the macro's glue. Two things follow from that list:
//!
//! - the first read of the registry builds them all, closed with no calls;
//! - their names are **reserved**: before any other breaker enrolls under the name of an
//!   annotated function's breaker, that breaker is built, so it holds the name and the
//!   other one meets it (handed back with the same settings, `NameTaken` otherwise),
//!   whether or not anything read the registry before. Without the reservation, a
//!   hand-built breaker that came first would take the name, and the annotated
//!   function's own build would fail on its first call.

use std::collections::HashMap;
use std::sync::{Once, OnceLock};

/// Something to build when the registry is first read: an annotated function's static
/// breaker.
pub trait BuildOnRead: Sync {
    /// Builds (and so registers) the breaker; `locate` gives its default name.
    fn build(&'static self, locate: fn() -> &'static str);
    /// The name its breaker bears: the attribute's `name`, or `locate()`, the
    /// function's path.
    fn name(&'static self, locate: fn() -> &'static str) -> &'static str;
}

/// An annotated function's breaker, as its expansion submits it.
pub struct Registration {
    breaker: &'static dyn BuildOnRead,
    locate: fn() -> &'static str,
}

impl Registration {
    /// The breaker of one annotated function, and how to find its default name (the
    /// function's path).
    pub const fn new(breaker: &'static dyn BuildOnRead, locate: fn() -> &'static str) -> Self {
        Registration { breaker, locate }
    }

    /// The identity of the static breaker, as [`owner`] takes it.
    fn owner(&self) -> usize {
        owner(self.breaker)
    }

    fn build(&self) {
        self.breaker.build(self.locate);
    }
}

inventory::collect!(Registration);

/// The identity an annotated function's static breaker passes to the builder, so that
/// its own enrolment is told from another breaker's under its name.
pub(crate) fn owner<T: ?Sized>(breaker: &'static T) -> usize {
    breaker as *const T as *const () as usize
}

/// The annotated function a name belongs to.
struct Reservation {
    registration: &'static Registration,
    /// The function's path, for messages.
    function: &'static str,
}

/// Every annotated function's name, read once from the linked registrations; the first
/// registration of a name owns it (two functions given one `name = "..."` are a
/// mistake the second one pays for: see `StaticBreaker`).
fn reservations() -> &'static HashMap<&'static str, Reservation> {
    static RESERVED: OnceLock<HashMap<&'static str, Reservation>> = OnceLock::new();
    RESERVED.get_or_init(|| {
        let mut reserved = HashMap::new();
        for registration in inventory::iter::<Registration> {
            let name = registration.breaker.name(registration.locate);
            reserved.entry(name).or_insert(Reservation {
                registration,
                function: (registration.locate)(),
            });
        }
        reserved
    })
}

/// A breaker is about to enroll under `name`: if an annotated function's breaker owns
/// the name and this is not that breaker (`owner`), the owner is built first. Nothing
/// is held meanwhile, so a thread building the owner at the same moment is waited for
/// and waits for nothing of ours.
pub(crate) fn claim(name: &str, owner: Option<usize>) {
    if let Some(reservation) = reservations().get(name) {
        if owner != Some(reservation.registration.owner()) {
            reservation.registration.build();
        }
    }
}

/// The path of the annotated function whose breaker owns `name`, if one does.
pub(crate) fn function_owning(name: &str) -> Option<&'static str> {
    reservations().get(name).map(|r| r.function)
}

/// Builds the breaker of every annotated function linked into the program, once. A
/// breaker built this way is closed with no calls counted.
pub(crate) fn build_all() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for registration in inventory::iter::<Registration> {
            registration.build();
        }
    });
}
