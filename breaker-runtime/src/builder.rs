//! Building a breaker: the [`Builder`], which validates the settings, enrolls the
//! breaker in the registry (handing back the live breaker of its name when nothing
//! would differ) and joins it to its fleet.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{ClockCell, ClockSource};
use crate::events::Sinks;
use crate::policy::{Backoff, IntoPercent, Window};
use crate::registry::{self, Enrolled};
use crate::shared::Sharing;
use crate::{CircuitBreaker, Clock, Config, ConfigError, Listener, Name};

impl CircuitBreaker {
    /// Starts configuring a breaker called `name` (the name shows in errors, logs,
    /// metrics and the [`registry`](crate::registry)).
    pub fn builder(name: impl Into<Name>) -> Builder {
        Builder::new(name.into())
    }
}

/// Builds a [`CircuitBreaker`]; start with [`CircuitBreaker::builder`].
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("user-profile")
///     .fail_max(3)
///     .reset_timeout(Duration::from_secs(30))
///     .success_threshold(2)
///     .build();
/// assert_eq!(breaker.config().fail_max, 3);
/// ```
///
/// Invalid settings are refused by [`build`](Builder::build) (which panics with a message
/// naming the setting) and [`try_build`](Builder::try_build) (which returns it):
///
/// ```
/// use breaker_runtime::{CircuitBreaker, ConfigError};
///
/// let err = CircuitBreaker::builder("bad").fail_max(0).try_build().unwrap_err();
/// assert_eq!(err, ConfigError::FailMax(0));
/// assert!(err.to_string().starts_with("fail_max must be between 1 and"));
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    name: Name,
    config: Config,
    /// Settings given explicitly (`EXPLICIT_*`), for the combinations refused only when
    /// both were asked for.
    explicit: u8,
    clock: ClockSource,
    listeners: Vec<Arc<dyn Listener>>,
    listed: bool,
    sharing: Option<Sharing>,
    quorum: u32,
    /// The annotated function whose static breaker this is (see
    /// [`registry::owner`]): it owns its name.
    owner: Option<usize>,
    /// A key of a keyed set that publishes per set: its set's counters.
    #[cfg(feature = "metrics")]
    counted_in: Option<Arc<crate::metrics::Counters>>,
    /// Settings another breaker holds (its keyed set's first key's), to share if they
    /// are these.
    like: Option<Arc<Config>>,
}

impl Builder {
    pub(crate) fn new(name: Name) -> Self {
        Builder {
            name,
            config: Config::DEFAULT,
            explicit: 0,
            clock: ClockSource::Monotonic,
            listeners: Vec::new(),
            listed: true,
            sharing: None,
            quorum: 1,
            owner: None,
            #[cfg(feature = "metrics")]
            counted_in: None,
            like: None,
        }
    }

    /// Shares `config` (another breaker's) if the settings come out the same: the keys
    /// of a set then hold one copy of them.
    pub(crate) fn config_like(mut self, config: &Arc<Config>) -> Self {
        self.like = Some(Arc::clone(config));
        self
    }

    /// A key of a keyed set that publishes per set: it counts in `counters`, its set's.
    #[cfg(feature = "metrics")]
    pub(crate) fn counted_in(mut self, counters: Arc<crate::metrics::Counters>) -> Self {
        self.counted_in = Some(counters);
        self
    }

    /// This is the breaker of the annotated function whose static breaker is `owner`
    /// (see [`registry::owner`]), which owns its name.
    pub(crate) fn owned_by(mut self, owner: usize) -> Self {
        self.owner = Some(owner);
        self
    }

    /// The same settings under another name (a keyed set's overflow breaker).
    pub(crate) fn renamed(mut self, name: Name) -> Self {
        self.name = name;
        self
    }

    /// Consecutive failures that open the breaker (default 5; 1 to 65,535). With
    /// [`within`](Self::within): failures within that time.
    pub fn fail_max(mut self, fail_max: u32) -> Self {
        self.config.fail_max = fail_max;
        self.explicit |= EXPLICIT_FAIL_MAX;
        self
    }

    /// How long the breaker stays open before it lets a probe through (default 60 s;
    /// more than zero). Measured from the moment it last opened. Also the default
    /// [`half_open_timeout`](Self::half_open_timeout).
    pub fn reset_timeout(mut self, reset_timeout: Duration) -> Self {
        self.config.reset_timeout = reset_timeout;
        if self.explicit & EXPLICIT_HALF_OPEN_TIMEOUT == 0 {
            self.config.half_open_timeout = reset_timeout;
        }
        self
    }

    /// Consecutive successful probes, one at a time, that close a half-open breaker
    /// (default 1). Not with [`probes`](Self::probes).
    pub fn success_threshold(mut self, success_threshold: u32) -> Self {
        self.config.success_threshold = success_threshold;
        self.explicit |= EXPLICIT_SUCCESS_THRESHOLD;
        self
    }

    /// Calls a half-open breaker lets through together (default 1; at most 255): any
    /// failed probe reopens it (for a rate policy: as soon as the failed or slow probes
    /// alone reach the rate over `probes`), and it closes once all of them have
    /// succeeded. A probe with a neutral outcome gives its slot back. Not with
    /// [`success_threshold`](Self::success_threshold).
    pub fn probes(mut self, probes: u32) -> Self {
        self.config.probes = probes;
        self.explicit |= EXPLICIT_PROBES;
        self
    }

    /// How long a half-open probe may run (default: `reset_timeout`). A probe still
    /// running after this long counts as a failure: the breaker reopens (as of that
    /// deadline), the backoff advances, and the probe's late result is discarded. This
    /// is what keeps a hung probe from wedging the breaker. With several probes, the
    /// time runs from the last one let through.
    pub fn half_open_timeout(mut self, half_open_timeout: Duration) -> Self {
        self.config.half_open_timeout = half_open_timeout;
        self.explicit |= EXPLICIT_HALF_OPEN_TIMEOUT;
        self
    }

    /// Counts `fail_max` failures within this sliding time instead of in a row:
    /// successes do not reset the count (at least 1 s; split into
    /// [`buckets`](Self::buckets)). Needs [`fail_max`](Self::fail_max).
    pub fn within(mut self, within: Duration) -> Self {
        self.config.within = Some(within);
        self
    }

    /// Trips on the failure rate over the [`window`](Self::window) instead of on
    /// consecutive failures: when the window holds at least
    /// [`min_calls`](Self::min_calls) calls and at least this share of them failed.
    /// Takes a whole number of percent (`50` is 50 %) or a [`Percent`](crate::Percent)
    /// (`Percent::new(12.5)`); a bare float such as `0.5` does not compile (see
    /// [`IntoPercent`]).
    pub fn failure_rate(mut self, rate: impl IntoPercent) -> Self {
        self.config.failure_rate = Some(rate.into_percent());
        self
    }

    /// The calls a rate is computed over: [`Window::Calls`] (the last N) or
    /// [`Window::Time`] (at least 1 s, with [`min_calls`](Self::min_calls)).
    pub fn window(mut self, window: Window) -> Self {
        self.config.window = Some(window);
        self
    }

    /// How many buckets a time window (or [`within`](Self::within)) is split into
    /// (default 10; 2 to 60; each at least 100 ms). More buckets slide more smoothly.
    pub fn buckets(mut self, buckets: u32) -> Self {
        self.config.buckets = buckets;
        self
    }

    /// No verdict until the window holds this many calls: for a count window at most
    /// its size (the default), for a time window required.
    pub fn min_calls(mut self, min_calls: u32) -> Self {
        self.config.min_calls = Some(min_calls);
        self
    }

    /// A call that takes strictly longer than this (on the breaker's clock) is slow;
    /// the breaker trips when [`slow_rate`](Self::slow_rate) of the window's calls are.
    pub fn slow_call(mut self, slow_call: Duration) -> Self {
        self.config.slow_call = Some(slow_call);
        self
    }

    /// The share of slow calls that trips the breaker (default 100 %). Needs
    /// [`slow_call`](Self::slow_call).
    pub fn slow_rate(mut self, rate: impl IntoPercent) -> Self {
        self.config.slow_rate = Some(rate.into_percent());
        self
    }

    /// Each reopening from half-open multiplies the open duration by this factor (1.0
    /// to 10.0), up to [`max_reset_timeout`](Self::max_reset_timeout) (default 10 ×
    /// `reset_timeout`). Closing starts over from `reset_timeout`.
    pub fn backoff(mut self, factor: f64) -> Self {
        self.config.backoff = Some(Backoff::new(factor));
        self
    }

    /// The cap of the backed-off open duration (at least `reset_timeout`). Needs
    /// [`backoff`](Self::backoff).
    pub fn max_reset_timeout(mut self, max: Duration) -> Self {
        self.config.max_reset_timeout = Some(max);
        self
    }

    /// Shortens each open duration by a random share of up to this much (0 % to below
    /// 100 %), so that many breakers opened together do not probe together. The
    /// duration never exceeds the cap, and keeps its spread at the cap.
    pub fn jitter(mut self, jitter: impl IntoPercent) -> Self {
        self.config.jitter = jitter.into_percent();
        self
    }

    /// The longest an upstream's advice (a `Retry-After`, a gRPC `RetryInfo`: see
    /// [`Advice`](crate::Advice)) keeps the breaker open (default: the larger of
    /// `reset_timeout` and 5 minutes). A longer advice is cut to it; a shorter one is
    /// honoured as it is.
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.config.retry_after_cap = Some(cap);
        self
    }

    /// With `true`, one failure that carries an upstream's advice opens the breaker at
    /// once, whatever the trip rule, for the advised time (capped); the opening's reason
    /// is `retry_after`. Off by default, and for good reason: behind a load balancer one
    /// overloaded instance's `503 Retry-After` speaks for that instance, not for the
    /// service, and must not cut the whole service off from this client. Turn it on for
    /// an upstream that is one instance, or whose advice speaks for the whole service:
    /// an upstream breaker-runtime service's `circuit-breaker: open` answers (its own
    /// breaker is open for everyone), a gRPC `RetryInfo` from a service that sheds load
    /// as a whole.
    pub fn open_on_retry_after(mut self, open: bool) -> Self {
        self.config.open_on_retry_after = open;
        self
    }

    /// Throttles below this success rate (see the [`throttle`](crate::throttle) module):
    /// while the breaker is closed, once its upstream accepts fewer than `rate` of the
    /// calls asked for over the window (a time window, default 2 minutes; `min_calls`,
    /// default 20), each call is refused with probability
    /// `max(0, (requests − accepts / rate) / (requests + 1))`, up to
    /// [`max_throttle`](Self::max_throttle). `50` is the SRE book's K = 2.
    ///
    /// Without [`fail_max`](Self::fail_max), a failure rate or slow calls, the breaker
    /// only throttles (it never opens by itself); with one of them, the throttle acts
    /// while closed and the rule still opens it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::{CircuitBreaker, Policy, Window};
    ///
    /// let alone = CircuitBreaker::builder("throttle-alone").throttle(50).build();
    /// assert_eq!(alone.config().policy(), Policy::Throttle);
    /// let both = CircuitBreaker::builder("throttle-and-trip")
    ///     .throttle(50)
    ///     .fail_max(20)
    ///     .window(Window::Time(Duration::from_secs(60)))
    ///     .build();
    /// assert_eq!(both.config().policy(), Policy::Consecutive);
    /// assert!(CircuitBreaker::builder("t").throttle(50).window(Window::Calls(100)).try_build().is_err());
    /// ```
    pub fn throttle(mut self, rate: impl IntoPercent) -> Self {
        self.config.throttle = Some(rate.into_percent());
        if self.explicit & EXPLICIT_FAIL_MAX == 0 {
            // The throttle alone, unless a trip rule is asked for.
            self.config.fail_max = 0;
        }
        self
    }

    /// The largest share of calls the throttle refuses (default 90 %): some calls always
    /// go, to see the upstream recover.
    pub fn max_throttle(mut self, rate: impl IntoPercent) -> Self {
        self.config.max_throttle = Some(rate.into_percent());
        self
    }

    /// All settings at once, e.g. from a configuration file.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self.explicit = FROM_CONFIG | EXPLICIT_HALF_OPEN_TIMEOUT;
        self
    }

    /// The time source: a [`ManualClock`](crate::ManualClock) in tests, or any
    /// [`Clock`]. The default is [`MonotonicClock`](crate::MonotonicClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::of(clock);
        self
    }

    /// Attaches a listener to this breaker.
    pub fn listener(self, listener: impl Listener) -> Self {
        self.listener_arc(Arc::new(listener))
    }

    /// Attaches a listener you keep a reference to (to read what it recorded).
    pub fn listener_arc(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Keeps this breaker out of the [`registry`](crate::registry) (it registers itself
    /// by default).
    pub fn unregistered(mut self) -> Self {
        self.listed = false;
        self
    }

    /// Joins the fleet breaker of this name on `backend` (feature `redis`): the replicas
    /// sharing it open together, send one probe for the fleet, and close together, while
    /// every call stays local. See [`shared`](crate::shared).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared(mut self, backend: &crate::shared::RedisBackend) -> Self {
        self.sharing = Some(Sharing::With(backend.clone()));
        self
    }

    /// Joins the fleet breaker of this name through the backend
    /// [`install`](crate::shared)ed for the process, if there is one when the breaker is
    /// built; otherwise it runs locally and says so once (a `tracing` warning).
    pub fn shared_installed(mut self) -> Self {
        self.sharing = Some(Sharing::Installed);
        self
    }

    /// For a shared breaker: how many distinct replicas must trip within `reset_timeout`
    /// for the fleet to open (default 1). With 2 or more, one bad replica alone does not
    /// open the fleet.
    pub fn quorum(mut self, quorum: u32) -> Self {
        self.quorum = quorum;
        self
    }

    /// Builds the breaker, closed.
    ///
    /// **A name stands for one breaker.** When a live registered breaker already bears
    /// this name, `build` hands that breaker back, as Resilience4j's registry does,
    /// provided this builder asks for nothing different: the same [`Config`], clock
    /// (clones of one [`ManualClock`](crate::ManualClock) are one clock), listeners (the
    /// same `Arc`s, see [`listener_arc`](Self::listener_arc)) and fleet membership. Two
    /// keyed sets made from one template, or two clients from one factory, thus share
    /// each key's breaker. A breaker built [`unregistered`](Self::unregistered) is
    /// private: it never shares, and its name need not be unique.
    ///
    /// ```
    /// use breaker_runtime::{CircuitBreaker, ConfigError};
    ///
    /// let first = CircuitBreaker::builder("build-doc").fail_max(3).build();
    /// let again = CircuitBreaker::builder("build-doc").fail_max(3).build();
    /// assert!(again.ptr_eq(&first));
    ///
    /// let other = CircuitBreaker::builder("build-doc").fail_max(4).try_build();
    /// assert_eq!(other.unwrap_err(), ConfigError::NameTaken);
    /// ```
    ///
    /// # Panics
    ///
    /// When a setting is out of range, with a message that names it, or when a live
    /// breaker bears the name with other settings ([`ConfigError::NameTaken`]); use
    /// [`try_build`](Self::try_build) to handle that as a value.
    #[track_caller]
    pub fn build(self) -> CircuitBreaker {
        let name = self.name.clone();
        match self.try_build() {
            Ok(breaker) => breaker,
            Err(e @ ConfigError::NameTaken) => match registry::function_owning(&name) {
                Some(function) => panic!(
                    "invalid configuration for circuit breaker '{name}': {e}; '{name}' is the \
                     breaker of the #[circuit_breaker] function `{function}`"
                ),
                None => panic!("invalid configuration for circuit breaker '{name}': {e}"),
            },
            Err(e) => panic!("invalid configuration for circuit breaker '{name}': {e}"),
        }
    }

    /// Builds the breaker (or hands back the live one of its name: see
    /// [`build`](Self::build)), or says which setting is invalid.
    pub fn try_build(self) -> Result<CircuitBreaker, ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        self.check_combinations()?;
        self.config.validate()?;
        if self.quorum == 0 {
            return Err(ConfigError::ZeroQuorum);
        }
        let config = match self.like {
            Some(like) if *like == self.config => like,
            _ => Arc::new(self.config),
        };
        let built = CircuitBreaker::new(
            self.name,
            config,
            ClockCell::new(self.clock),
            Sinks::new(
                self.listeners,
                self.sharing
                    .as_ref()
                    .zip(NonZeroU32::new(self.quorum))
                    .map(|(sharing, quorum)| sharing.membership(quorum)),
                // A key counts in its set's counters only if it is registered: an
                // unregistered breaker publishes nothing, through its set neither.
                #[cfg(feature = "metrics")]
                self.counted_in.filter(|_| self.listed),
            ),
        );
        match registry::enroll(built, self.listed, self.owner)? {
            Enrolled::Existing(breaker) => Ok(breaker),
            Enrolled::New(breaker) => {
                if let Some(sharing) = self.sharing {
                    crate::shared::join(sharing, &breaker, self.quorum);
                }
                Ok(breaker)
            }
        }
    }
}

/// Whether `built` would be `existing` in all but identity: its settings, clock,
/// listeners and fleet membership. Building a name a live breaker bears hands that
/// breaker back only then.
pub(crate) fn same_settings(built: &CircuitBreaker, existing: &CircuitBreaker) -> bool {
    built.config() == existing.config()
        && built.clock_source().same(existing.clock_source())
        && built.sinks().same_as(existing.sinks())
}

const EXPLICIT_FAIL_MAX: u8 = 1;
const EXPLICIT_SUCCESS_THRESHOLD: u8 = 2;
const EXPLICIT_PROBES: u8 = 4;
const EXPLICIT_HALF_OPEN_TIMEOUT: u8 = 8;
/// The settings came as one [`Config`]: nothing to tell from defaults.
const FROM_CONFIG: u8 = 16;

impl Builder {
    /// The combinations refused because both settings were asked for, which a
    /// [`Config`] cannot tell from its defaults.
    fn check_combinations(&self) -> Result<(), ConfigError> {
        let asked = |bits: u8| self.explicit & bits == bits;
        if asked(FROM_CONFIG) {
            return Ok(());
        }
        if asked(EXPLICIT_FAIL_MAX) && self.config.is_rate() {
            return Err(ConfigError::FailMaxWithRate);
        }
        if asked(EXPLICIT_PROBES | EXPLICIT_SUCCESS_THRESHOLD) {
            return Err(ConfigError::ProbesWithSuccessThreshold);
        }
        if self.config.within.is_some() && !self.config.is_rate() && !asked(EXPLICIT_FAIL_MAX) {
            return Err(ConfigError::WithinWithoutFailMax);
        }
        Ok(())
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("listeners", &self.listeners.len())
            .field("listed", &self.listed)
            .field("shared", &self.sharing.is_some())
            .field("quorum", &self.quorum)
            .finish()
    }
}
