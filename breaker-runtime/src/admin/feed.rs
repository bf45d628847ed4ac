//! The transitions the router's event stream sends: every change of a breaker's state or
//! sticky mode, with why and where it came from, kept in a ring of the latest for a page
//! that connects (or reconnects) after they happened.
//!
//! Nothing is recorded until a router has been made: a process without one pays a load
//! of an empty `OnceLock` per transition, and transitions are rare.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use tokio::sync::broadcast;

use crate::conventions::{open_reason, origin, values};
use crate::outcome::Trigger;
use crate::state::{Phase, Word};
use crate::sync::lock;
use crate::CircuitBreaker;

/// How many of the latest transitions a new subscriber is sent first.
const RECENT: usize = 1024;

/// One transition, as the event stream sends it.
#[derive(Debug)]
pub(crate) struct Transition {
    /// Its place in the feed: the stream's event id.
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) key: Option<String>,
    pub(crate) from: &'static str,
    pub(crate) to: &'static str,
    pub(crate) reason: &'static str,
    pub(crate) origin: &'static str,
    pub(crate) time: SystemTime,
}

impl Transition {
    /// The JSON the stream sends.
    pub(crate) fn json(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "key": self.key,
            "from": self.from,
            "to": self.to,
            "reason": self.reason,
            "origin": self.origin,
            "time": humantime::format_rfc3339_millis(self.time).to_string(),
        })
        .to_string()
    }
}

pub(crate) struct Feed {
    sender: broadcast::Sender<Arc<Transition>>,
    recent: Mutex<VecDeque<Arc<Transition>>>,
    next_id: AtomicU64,
}

static FEED: OnceLock<Feed> = OnceLock::new();

/// The feed, started by the first router.
pub(crate) fn feed() -> &'static Feed {
    FEED.get_or_init(|| Feed {
        sender: broadcast::channel(RECENT).0,
        recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        next_id: AtomicU64::new(1),
    })
}

/// What a subscriber is sent first.
pub(crate) struct Subscription {
    /// The transitions from now on.
    pub(crate) receiver: broadcast::Receiver<Arc<Transition>>,
    /// The kept transitions after the one asked for, oldest first.
    pub(crate) backlog: Vec<Arc<Transition>>,
    /// Whether transitions after the one asked for are no longer kept (or it is one
    /// that never was): the subscriber must read the breakers again.
    pub(crate) missed: bool,
    /// The id of the latest transition (0 before the first).
    pub(crate) latest: u64,
}

impl Feed {
    /// The id of the latest transition (0 before the first).
    pub(crate) fn latest(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed) - 1
    }

    /// The transitions after `after` (an id; 0 for all that are kept), then each as it
    /// comes.
    pub(crate) fn subscribe(&self, after: u64) -> Subscription {
        // Under the ring's lock, as a transition is recorded: none falls between the
        // two.
        let recent = lock(&self.recent);
        let receiver = self.sender.subscribe();
        let latest = self.next_id.load(Ordering::Relaxed) - 1;
        let oldest_kept = recent.front().map_or(latest + 1, |t| t.id);
        let missed = after > latest || (after > 0 && after + 1 < oldest_kept);
        let backlog = recent.iter().filter(|t| t.id > after).cloned().collect();
        Subscription {
            receiver,
            backlog,
            missed,
            latest,
        }
    }
}

/// A change of `breaker`'s phase, for the feed (if a router made one).
#[cold]
pub(crate) fn transition(breaker: &CircuitBreaker, from: Word, to: Word, trigger: Trigger<'_>) {
    let Some(feed) = FEED.get() else {
        return;
    };
    let reason = match (to.phase(), trigger) {
        (Phase::Open, _) => open_reason(breaker, from, trigger),
        (_, Trigger::Manual) => values::MANUAL,
        (_, Trigger::Fleet(_)) => values::FLEET,
        (Phase::HalfOpen, _) => "reset_timeout_elapsed",
        (Phase::Closed, _) => "probe_succeeded",
        (_, _) => values::CALL,
    };
    let mut recent = lock(&feed.recent);
    let transition = Arc::new(Transition {
        id: feed.next_id.fetch_add(1, Ordering::Relaxed),
        name: breaker.name().to_string(),
        key: crate::keyed::key_of(breaker).map(str::to_string),
        from: from.phase().as_str(),
        to: to.phase().as_str(),
        reason,
        origin: origin(trigger),
        time: SystemTime::now(),
    });
    if recent.len() == RECENT {
        recent.pop_front();
    }
    recent.push_back(transition.clone());
    // No receiver is no error: nobody is watching.
    let _ = feed.sender.send(transition);
}
