//! `per = expr`: a breaker per distinct value of an expression over the arguments.
//!
//! The expression's type is not one the macro can name, so the function's `static`
//! holds a keyed set over type-erased keys: each key keeps its value (`Box<dyn Any>`),
//! a hash computed once with the set's own random state, and how to compare it. A call
//! looks its key up by a borrowed [`Probe`] (the hash and a reference), so a key that
//! has a breaker costs no allocation; only a new key is made owned.

use std::any::Any;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, OnceLock};

use crate::keyed::Breakers;
use crate::{CircuitBreaker, CircuitBreakerError, Config, Name, OwnedPermit};

/// The breakers of one function annotated with `per = ...`.
pub struct PerKey {
    config: Config,
    name: Option<&'static str>,
    shared: Option<u32>,
    max_keys: Option<usize>,
    metrics_per_key: bool,
    set: OnceLock<(Breakers<ErasedKey>, RandomState)>,
}

/// A key of any type, with its hash (of the set's random state) and its breaker's label.
/// Cloned only when a sweep lists the keys it evicts: a reference count.
#[derive(Clone)]
pub struct ErasedKey {
    hash: u64,
    value: Arc<dyn Any + Send + Sync>,
    same: fn(&(dyn Any + Send + Sync), &(dyn Any + Send + Sync)) -> bool,
    label: Arc<str>,
}

impl Hash for ErasedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for ErasedKey {
    fn eq(&self, other: &ErasedKey) -> bool {
        self.hash == other.hash && (self.same)(&*self.value, &*other.value)
    }
}

impl Eq for ErasedKey {}

/// A borrowed key, as a call looks it up.
struct Probe<'a, Q: ?Sized> {
    hash: u64,
    key: &'a Q,
}

impl<Q: ?Sized> Hash for Probe<'_, Q> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<Q> papaya::Equivalent<ErasedKey> for Probe<'_, Q>
where
    Q: Eq + ToOwned + ?Sized,
    Q::Owned: 'static,
{
    fn equivalent(&self, stored: &ErasedKey) -> bool {
        self.hash == stored.hash
            && stored
                .value
                .downcast_ref::<Q::Owned>()
                .is_some_and(|owned| owned.borrow() == self.key)
    }
}

/// What `per = ...` needs of its expression's value (after one `&` is taken off): that
/// it can be hashed, compared, and made owned to keep as the key of a new breaker.
#[diagnostic::on_unimplemented(
    message = "`per = ...` needs a value that is `Hash + Eq` and can be owned (`ToOwned` with a `'static + Send + Sync` owned form), not `{Self}`",
    label = "one breaker is kept per distinct value of this expression",
    note = "use a field or an argument such as a host name (`&str`), a tenant id (`u64`) or a `String`"
)]
pub trait PerKeyValue: Hash + Eq + ToOwned {}

impl<Q> PerKeyValue for Q
where
    Q: Hash + Eq + ToOwned + ?Sized,
    Q::Owned: Send + Sync + 'static,
{
}

impl PerKey {
    /// The attribute's settings, checked again at compile time like
    /// [`StaticBreaker::new`](super::StaticBreaker::new)'s.
    pub const fn new(
        config: Config,
        name: Option<&'static str>,
        shared: Option<u32>,
        max_keys: Option<usize>,
        metrics_per_key: bool,
    ) -> Self {
        assert!(
            config.validate().is_ok(),
            "#[circuit_breaker] accepted a setting that breaker-runtime refuses: \
             breaker-macros and breaker-runtime must be the same version"
        );
        PerKey {
            config,
            name,
            shared,
            max_keys,
            metrics_per_key,
            set: OnceLock::new(),
        }
    }

    fn set(
        &'static self,
        locate: fn() -> &'static str,
    ) -> &'static (Breakers<ErasedKey>, RandomState) {
        self.set.get_or_init(|| {
            let function = self.name.unwrap_or_else(locate);
            let (config, shared) = (self.config, self.shared);
            let template = move |key: &ErasedKey| {
                let builder =
                    CircuitBreaker::builder(Name::from(format!("{function}[{}]", key.label)))
                        .config(config);
                match shared {
                    Some(quorum) => builder.shared_installed().quorum(quorum),
                    None => builder,
                }
            };
            let mut breakers = Breakers::builder(template)
                .name(function)
                .metrics_per_key(self.metrics_per_key);
            if let Some(max_keys) = self.max_keys {
                breakers = breakers.max_keys(max_keys);
            }
            (breakers.build(), RandomState::new())
        })
    }

    /// Pins the set for one synchronous call, so that the breaker it lends stays valid
    /// while the body runs.
    #[inline]
    pub fn guard(&'static self, locate: fn() -> &'static str) -> PerGuard {
        let set = self.set(locate);
        PerGuard {
            set,
            guard: set.0.set.map.guard(),
        }
    }

    /// A permit of `key`'s breaker that owns it: for an `async` function, whose future
    /// must not hold a guard across an `.await`. `ANSWERED` when a fallback answers a
    /// rejection (the caller's trace is not told the call failed).
    #[inline]
    pub fn try_acquire_owned<const ANSWERED: bool, Q: PerKeyValue + ?Sized>(
        &'static self,
        locate: fn() -> &'static str,
        key: &Q,
        label: fn(&Q) -> String,
    ) -> Result<OwnedPermit, CircuitBreakerError>
    where
        Q::Owned: Send + Sync + 'static,
    {
        let set = self.set(locate);
        let guard = set.0.set.map.guard();
        let breaker = lookup(set, key, label, &guard);
        let permit = match ANSWERED {
            true => breaker.try_acquire_answered(),
            false => breaker.try_acquire(),
        }?
        .detach();
        Ok(OwnedPermit::new(breaker.clone(), permit))
    }
}

/// One synchronous call's hold on a per-key set.
pub struct PerGuard {
    set: &'static (Breakers<ErasedKey>, RandomState),
    guard: papaya::LocalGuard<'static>,
}

impl PerGuard {
    /// `key`'s breaker, made on first use (named with `label`), borrowed for as long
    /// as this guard lives.
    #[inline]
    pub fn breaker<Q: PerKeyValue + ?Sized>(
        &self,
        key: &Q,
        label: fn(&Q) -> String,
    ) -> &CircuitBreaker
    where
        Q::Owned: Send + Sync + 'static,
    {
        lookup(self.set, key, label, &self.guard)
    }
}

fn lookup<'g, Q>(
    set: &'g (Breakers<ErasedKey>, RandomState),
    key: &Q,
    label: fn(&Q) -> String,
    guard: &'g papaya::LocalGuard<'static>,
) -> &'g CircuitBreaker
where
    Q: Hash + Eq + ToOwned + ?Sized,
    Q::Owned: Send + Sync + 'static,
{
    let (breakers, state) = set;
    let hash = state.hash_one(key);
    let probe = Probe { hash, key };
    let owned = || ErasedKey {
        hash,
        value: Arc::new(key.to_owned()),
        same: same::<Q>,
        label: label(key).into(),
    };
    breakers.set.breaker(&probe, owned, guard).0
}

/// Whether two erased keys of one function hold equal values.
fn same<Q>(a: &(dyn Any + Send + Sync), b: &(dyn Any + Send + Sync)) -> bool
where
    Q: Eq + ToOwned + ?Sized,
    Q::Owned: 'static,
{
    match (a.downcast_ref::<Q::Owned>(), b.downcast_ref::<Q::Owned>()) {
        (Some(a), Some(b)) => a.borrow() == b.borrow(),
        _ => false,
    }
}

/// The expression's value as a key: `(&&KeyArg(&expr)).key()` takes one `&` off a
/// reference (`host: &str` gives `str`), and leaves any other value as it is.
pub struct KeyArg<'a, V: ?Sized>(pub &'a V);

/// A reference: looked up by what it refers to.
pub trait KeyViaRef<'a, T: ?Sized> {
    /// The key.
    fn key(&self) -> &'a T;
}

impl<'a, T: ?Sized> KeyViaRef<'a, T> for &KeyArg<'a, &'a T> {
    #[inline(always)]
    fn key(&self) -> &'a T {
        self.0
    }
}

/// Any other value.
pub trait KeyViaValue<'a, V: ?Sized> {
    /// The key.
    fn key(&self) -> &'a V;
}

impl<'a, V: ?Sized> KeyViaValue<'a, V> for KeyArg<'a, V> {
    #[inline(always)]
    fn key(&self) -> &'a V {
        self.0
    }
}

/// A key's label in its breaker's name (`fetch[<label>]`):
/// `(&&&KeyLabel(key)).label()` uses its `Display`, else its `Debug`, else its hash.
pub struct KeyLabel<'a, Q: ?Sized>(pub &'a Q);

/// A key that implements `Display`.
pub trait LabelViaDisplay {
    /// The label.
    fn label(&self) -> String;
}

impl<Q: fmt::Display + ?Sized> LabelViaDisplay for &&KeyLabel<'_, Q> {
    fn label(&self) -> String {
        self.0.to_string()
    }
}

/// A key that implements `Debug` only.
pub trait LabelViaDebug {
    /// The label.
    fn label(&self) -> String;
}

impl<Q: fmt::Debug + ?Sized> LabelViaDebug for &KeyLabel<'_, Q> {
    fn label(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// A key that can only be hashed.
pub trait LabelViaHash {
    /// The label.
    fn label(&self) -> String;
}

impl<Q: Hash + ?Sized> LabelViaHash for KeyLabel<'_, Q> {
    fn label(&self) -> String {
        // A fixed hasher: the same key gets the same label each time it is made.
        let mut hasher = std::hash::DefaultHasher::new();
        self.0.hash(&mut hasher);
        format!("#{:016x}", hasher.finish())
    }
}
