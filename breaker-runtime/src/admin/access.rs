//! Who may change a breaker's state through the router: nobody, the holders of a bearer
//! token, or (said in so many words) anyone who can reach it.

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// What the [admin router](super::router) lets a request change. Reading (the JSON, the
/// event stream and the page) is open to whoever reaches the router: mount it on an
/// internal listener, not on the public one.
///
/// ```
/// use breaker_runtime::admin::Access;
///
/// let token = std::env::var("BREAKER_ADMIN_TOKEN").unwrap_or_else(|_| "s3cret-token".into());
/// let access = Access::bearer(token);
/// assert!(access.allows_writes());
/// assert!(!Access::read_only().allows_writes());
/// // The token is never shown.
/// assert_eq!(format!("{access:?}"), "Access::bearer(..)");
/// ```
#[derive(Clone)]
pub struct Access {
    writes: Writes,
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
        }
    }

    /// Writes need nothing: anyone who reaches the router may open, close, force open or
    /// disable any breaker. Only for a router on a listener that only trusted callers
    /// reach (a unix socket, a port behind your own authentication).
    pub fn unauthenticated_writes() -> Access {
        Access {
            writes: Writes::Unauthenticated,
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

    /// Whether a request with these headers may write.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match &self.writes {
            Writes::Refused => Err(Refusal::ReadOnly),
            Writes::Unauthenticated => Ok(()),
            Writes::Bearer(token) => {
                let given = headers
                    .get(AUTHORIZATION)
                    .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
                    .unwrap_or_default();
                // Equal lengths and bytes, without an early exit on the first
                // difference; a length that differs only says that it does.
                match bool::from(given.ct_eq(token)) {
                    true => Ok(()),
                    false => Err(Refusal::Unauthorized),
                }
            }
        }
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
        assert_eq!(access.check(&with("Bearer t0ken")), Ok(()));
        for wrong in [
            "Bearer t0ke",
            "Bearer t0kenn",
            "Bearer T0KEN",
            "bearer t0ken",
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
    #[should_panic(expected = "needs a token without whitespace")]
    fn an_empty_token_is_refused_at_once() {
        let _ = Access::bearer("");
    }
}
