//! A breaker's name: a `&'static str`, or a string made at run time.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The name of a breaker, as it shows in errors, logs, metrics and the
/// [`registry`](crate::registry).
///
/// Most names are string literals (`CircuitBreaker::builder("user-profile")`, and every
/// `#[circuit_breaker]` function's), which a `Name` holds as they are. A name made at run
/// time (`format!("fetch[{host}]")`, a keyed breaker's) is held once, behind a reference
/// count, so the breakers that come and go in a [keyed set](crate::keyed::Breakers)
/// leak nothing. Cloning a name copies a pointer; for a run-time name it also counts
/// one more reference.
///
/// A `Name` dereferences to `str` and compares with strings:
///
/// ```
/// use breaker_runtime::{CircuitBreaker, Name};
///
/// let host = "api.example.com";
/// let breaker = CircuitBreaker::builder(format!("fetch[{host}]")).build();
/// assert_eq!(breaker.name(), "fetch[api.example.com]");
///
/// let name = Name::from("user-profile");
/// assert_eq!(name, "user-profile");
/// assert!(name.starts_with("user"));
/// ```
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// A name from a string literal, in a `const` context.
    pub const fn new_static(name: &'static str) -> Self {
        Name(Repr::Static(name))
    }

    /// The name as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(name) => name,
            Repr::Shared(name) => name,
        }
    }

    /// The name as a `&'static str`, if it was one.
    pub fn as_static(&self) -> Option<&'static str> {
        match self.0 {
            Repr::Static(name) => Some(name),
            Repr::Shared(_) => None,
        }
    }
}

impl Deref for Name {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Name {
    fn from(name: &'static str) -> Self {
        Name(Repr::Static(name))
    }
}

impl From<String> for Name {
    fn from(name: String) -> Self {
        Name(Repr::Shared(name.into()))
    }
}

impl From<Box<str>> for Name {
    fn from(name: Box<str>) -> Self {
        Name(Repr::Shared(name.into()))
    }
}

impl From<Arc<str>> for Name {
    fn from(name: Arc<str>) -> Self {
        Name(Repr::Shared(name))
    }
}

impl From<Cow<'static, str>> for Name {
    fn from(name: Cow<'static, str>) -> Self {
        match name {
            Cow::Borrowed(name) => name.into(),
            Cow::Owned(name) => name.into(),
        }
    }
}

impl From<&Name> for Name {
    fn from(name: &Name) -> Self {
        name.clone()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn static_and_run_time_names_compare_hash_and_show_alike() {
        let literal = Name::from("fetch[a]");
        let made = Name::from(format!("fetch[{}]", "a"));
        assert_eq!(literal, made);
        assert_eq!(literal.as_static(), Some("fetch[a]"));
        assert_eq!(made.as_static(), None);
        let hash = |n: &Name| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            n.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&literal), hash(&made));
        assert_eq!(
            format!("{made} {made:?} {made:>10}"),
            "fetch[a] \"fetch[a]\"   fetch[a]"
        );
        assert!("fetch[a]" == made && made == *"fetch[a]");
    }

    #[test]
    fn every_way_in_gives_the_same_name() {
        let want = Name::new_static("orders");
        let ways: [Name; 6] = [
            Name::from("orders"),
            Name::from(String::from("orders")),
            Name::from(Box::<str>::from("orders")),
            Name::from(Arc::<str>::from("orders")),
            Name::from(Cow::Owned(String::from("orders"))),
            Name::from(&want),
        ];
        for name in &ways {
            assert_eq!(name, &want);
            assert_eq!(
                (name.as_str(), name.as_ref(), &**name),
                ("orders", "orders", "orders")
            );
        }
        assert_eq!(
            Name::from(Cow::Borrowed("orders")).as_static(),
            Some("orders")
        );
        assert_eq!(Name::from(Cow::Owned::<str>("o".into())).as_static(), None);
        assert_ne!(Name::from("orders"), Name::from("order"));
    }

    #[test]
    fn names_compare_as_their_text() {
        let (a, b) = (Name::from("alpha"), Name::from(String::from("beta")));
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Less);
        assert_eq!(b.cmp(&a), std::cmp::Ordering::Greater);
        assert_eq!(a.cmp(&a.clone()), std::cmp::Ordering::Equal);
        assert_eq!(a.partial_cmp(&b), Some(std::cmp::Ordering::Less));
        let (alpha, beta) = (String::from("alpha"), String::from("beta"));
        assert!(a == "alpha" && a == *"alpha" && a == alpha);
        assert!(a != "beta" && a != *"beta" && a != beta);
        assert!("alpha" == a && *"alpha" == a && "beta" != a && *"beta" != a);
        // `Borrow<str>`: a map keyed by names is looked up by text.
        let map: std::collections::HashMap<Name, u8> = [(b.clone(), 2)].into();
        assert_eq!(map.get("beta"), Some(&2));
        let set: std::collections::BTreeSet<Name> = [b, a].into();
        assert_eq!(
            set.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            ["alpha", "beta"]
        );
    }
}
