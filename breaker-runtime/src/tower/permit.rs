//! The permit a call through the layer holds until its verdict: borrowed from a
//! `&'static` breaker (nothing counted per call), or owning a handle on the breaker.

use std::fmt;

use crate::outcome::Seen;
use crate::{CircuitBreaker, OwnedPermit, Permit, Verdict};

/// Permission for one call through a [`CircuitBreakerLayer`](super::CircuitBreakerLayer),
/// handed to a [`Classify`](super::Classify) with the call's result. It gives its
/// verdict as a [`Permit`] does; dropped without one (the response future or the body
/// dropped before the end), the call is neutral.
///
/// From a layer over a `&'static CircuitBreaker` it borrows the breaker; from one over
/// a [`CircuitBreaker`] handle it holds a clone of the handle, which costs a reference
/// count's increment and decrement (two atomic read-modify-writes) per call.
#[must_use = "a permit reports a neutral outcome if dropped: give it a verdict with success(), failure() or ignore()"]
pub struct LayerPermit {
    kind: Kind,
}

enum Kind {
    Borrowed(Permit<'static>),
    Owned(OwnedPermit),
}

impl From<Permit<'static>> for LayerPermit {
    #[inline(always)]
    fn from(permit: Permit<'static>) -> Self {
        LayerPermit {
            kind: Kind::Borrowed(permit),
        }
    }
}

impl From<OwnedPermit> for LayerPermit {
    #[inline(always)]
    fn from(permit: OwnedPermit) -> Self {
        LayerPermit {
            kind: Kind::Owned(permit),
        }
    }
}

impl LayerPermit {
    crate::permit::verdicts!();

    /// True when this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        match &self.kind {
            Kind::Borrowed(permit) => permit.is_probe(),
            Kind::Owned(permit) => permit.is_probe(),
        }
    }

    /// The breaker this permit belongs to.
    pub fn breaker(&self) -> &CircuitBreaker {
        match &self.kind {
            Kind::Borrowed(permit) => permit.breaker(),
            Kind::Owned(permit) => permit.breaker(),
        }
    }

    #[inline(always)]
    pub(crate) fn finish(self, verdict: Verdict, error: Option<Seen<'_>>) {
        match self.kind {
            Kind::Borrowed(permit) => permit.finish_with(verdict, error),
            Kind::Owned(permit) => permit.finish(verdict, error),
        }
    }

    pub(crate) fn finish_advised(self, error: Option<Seen<'_>>, advice: crate::Advice) {
        match self.kind {
            Kind::Borrowed(permit) => permit.finish_advised(error, advice),
            Kind::Owned(permit) => permit.finish_advised(error, advice),
        }
    }
}

impl fmt::Debug for LayerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerPermit")
            .field("breaker", &self.breaker().name())
            .field("probe", &self.is_probe())
            .finish()
    }
}
