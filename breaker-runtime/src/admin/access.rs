//! Who may change a breaker's state through the router (nobody, the holders of a bearer
//! token, or, said in so many words, anyone who can reach it), and who may read it
//! (anyone, or the holders of the token).

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// What the [admin router](super::router) lets a request change, and read.
///
/// By default reading (the JSON, the summary, the event stream and the page) is open to
/// whoever reaches the router: what it shows is every breaker's name (your dependencies,
/// hosts and tenants, where keyed sets name breakers after them), state, counts and
/// settings, and each transition's time and reason; never an error's message, a token
/// or a password. Mount it on an internal listener, not on the public one, or require
/// the token for reads too with [`require_for_reads`](Access::require_for_reads).
///
/// ```
/// use breaker_runtime::admin::Access;
///
/// let token = std::env::var("BREAKER_ADMIN_TOKEN").unwrap_or_else(|_| "s3cret-token".into());
/// let access = Access::bearer(token.clone());
/// assert!(access.allows_writes() && !access.protects_reads());
/// assert!(!Access::read_only().allows_writes());
/// // Reads need the token too: every route but the page's HTML answers 401 without it.
/// assert!(Access::bearer(token).require_for_reads().protects_reads());
/// // The token is never shown.
/// assert_eq!(format!("{access:?}"), "Access::bearer(..)");
/// ```
#[derive(Clone)]
pub struct Access {
    writes: Writes,
    /// Reads need the bearer token too.
    protect_reads: bool,
}

#[derive(Clone)]
enum Writes {
    Refused,
    Bearer(Arc<[u8]>),
    Unauthenticated,
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The router is read-only: 403.
    ReadOnly,
    /// No token, or not the right one: 401.
    Unauthorized,
}

impl Access {
    /// Reads only: every write answers 403 Forbidden.
    pub fn read_only() -> Access {
        Access {
            writes: Writes::Refused,
            protect_reads: false,
        }
    }

    /// Writes need `Authorization: Bearer <token>`, compared in constant time; a missing
    /// or wrong token is a 401, and the router never logs either. Use a long random
    /// token (32 bytes or more), from your secrets, not from the code.
    ///
    /// # Panics
    ///
    /// When `token` is empty or has whitespace in it: no `Authorization` header could
    /// carry it, and every write would be refused.
    pub fn bearer(token: impl Into<String>) -> Access {
        let token = token.into();
        assert!(
            !token.is_empty() && !token.chars().any(char::is_whitespace),
            "admin::Access::bearer needs a token without whitespace, e.g. 32 random bytes in hex; \
             for no writes at all, use Access::read_only()"
        );
        Access {
            writes: Writes::Bearer(token.into_bytes().into()),
            protect_reads: false,
        }
    }

    /// Reads need the bearer token as well: every route (the JSON, the summary, the
    /// event stream) answers 401 without it, except the page's HTML and script, which
    /// hold no data and ask for the token. For a router that whoever reaches the
    /// listener must not read (see [`Access`] for what reads disclose).
    ///
    /// # Panics
    ///
    /// When there is no token to require: call it on [`Access::bearer`].
    pub fn require_for_reads(mut self) -> Access {
        assert!(
            matches!(self.writes, Writes::Bearer(_)),
            "admin::Access::require_for_reads needs a token to require: write \
             Access::bearer(token).require_for_reads()"
        );
        self.protect_reads = true;
        self
    }

    /// Whether reads need the token.
    pub fn protects_reads(&self) -> bool {
        self.protect_reads
    }

    /// Writes need nothing: anyone who reaches the router may open, close, force open or
    /// disable any breaker. Only for a router on a listener that only trusted callers
    /// reach (a unix socket, a port behind your own authentication).
    pub fn unauthenticated_writes() -> Access {
        Access {
            writes: Writes::Unauthenticated,
            protect_reads: false,
        }
    }

    /// Whether some request may write (the page shows its buttons).
    pub fn allows_writes(&self) -> bool {
        !matches!(self.writes, Writes::Refused)
    }

    /// `none`, `bearer` or `open`: how the page asks for writes.
    pub(crate) fn mode(&self) -> &'static str {
        match self.writes {
            Writes::Refused => "none",
            Writes::Bearer(_) => "bearer",
            Writes::Unauthenticated => "open",
        }
    }

    /// `open` or `bearer`: how the page asks for reads.
    pub(crate) fn reads_mode(&self) -> &'static str {
        if self.protect_reads {
            "bearer"
        } else {
            "open"
        }
    }

    /// Whether a request with these headers may write.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match &self.writes {
            Writes::Refused => Err(Refusal::ReadOnly),
            Writes::Unauthenticated => Ok(()),
            Writes::Bearer(token) => bearer_matches(headers, token),
        }
    }

    /// Whether a request with these headers may read.
    pub(crate) fn check_read(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match (&self.writes, self.protect_reads) {
            (Writes::Bearer(token), true) => bearer_matches(headers, token),
            _ => Ok(()),
        }
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`: the scheme in any case (RFC
/// 9110, section 11.1), one or more spaces, the token compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &[u8]) -> Result<(), Refusal> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|value| {
            let value = value.as_bytes();
            let space = value.iter().position(|b| *b == b' ')?;
            let (scheme, rest) = value.split_at(space);
            scheme
                .eq_ignore_ascii_case(b"bearer")
                .then(|| rest.trim_ascii())
        })
        .unwrap_or_default();
    // Equal lengths and bytes, without an early exit on the first difference; a length
    // that differs only says that it does.
    match bool::from(given.ct_eq(token)) {
        true => Ok(()),
        false => Err(Refusal::Unauthorized),
    }
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.writes {
            Writes::Refused => "Access::read_only()",
            Writes::Bearer(_) => "Access::bearer(..)",
            Writes::Unauthenticated => "Access::unauthenticated_writes()",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn a_bearer_token_must_match_exactly() {
        let access = Access::bearer("t0ken");
        for right in [
            "Bearer t0ken",
            "bearer t0ken",
            "BEARER t0ken",
            "Bearer   t0ken",
        ] {
            assert_eq!(access.check(&with(right)), Ok(()), "{right}");
        }
        for wrong in [
            "Bearer t0ke",
            "Bearer t0kenn",
            "Bearer T0KEN",
            "Basic t0ken",
            "Bearert0ken",
            "t0ken",
        ] {
            assert_eq!(
                access.check(&with(wrong)),
                Err(Refusal::Unauthorized),
                "{wrong}"
            );
        }
        assert_eq!(access.check(&HeaderMap::new()), Err(Refusal::Unauthorized));
    }

    #[test]
    fn read_only_refuses_and_unauthenticated_allows_whatever_the_headers() {
        assert_eq!(
            Access::read_only().check(&with("Bearer x")),
            Err(Refusal::ReadOnly)
        );
        assert_eq!(
            Access::unauthenticated_writes().check(&HeaderMap::new()),
            Ok(())
        );
    }

    #[test]
    fn reads_need_the_token_only_when_required() {
        let open = Access::bearer("t0ken");
        assert_eq!(open.check_read(&HeaderMap::new()), Ok(()));
        let closed = Access::bearer("t0ken").require_for_reads();
        assert_eq!(
            closed.check_read(&HeaderMap::new()),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(closed.check_read(&with("bearer t0ken")), Ok(()));
        assert_eq!(
            closed.check_read(&with("Bearer wrong")),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(Access::read_only().check_read(&HeaderMap::new()), Ok(()));
    }

    #[test]
    #[should_panic(expected = "Access::bearer(token).require_for_reads()")]
    fn reads_cannot_require_a_token_there_is_not() {
        let _ = Access::read_only().require_for_reads();
    }

    #[test]
    #[should_panic(expected = "needs a token without whitespace")]
    fn an_empty_token_is_refused_at_once() {
        let _ = Access::bearer("");
    }
}
