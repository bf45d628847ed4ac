//! `GET /events`: the transitions as Server-Sent Events, with ids that say which router
//! made them, so a client back from another process's stream is told to read everything
//! again rather than left waiting for ids that will never come.

use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::feed::{self, Transition};
use super::{read_refused, Admin};

/// How often the event stream says it is alive when nothing happens.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A new router's incarnation: 16 hex digits, from the standard library's per-process
/// random keys and the time, so that no two starts share one.
pub(super) fn incarnation() -> String {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Where a client resumes.
enum Resume {
    /// A first connection: the kept transitions, then the live ones.
    Start,
    /// After this router's transition `n`.
    After(u64),
    /// An id of another router (a process since restarted), or one that is no id of
    /// ours: read everything again.
    Elsewhere,
}

fn resume(admin: &Admin, headers: &HeaderMap) -> Resume {
    let Some(id) = headers.get("last-event-id") else {
        return Resume::Start;
    };
    id.to_str()
        .ok()
        .and_then(|id| id.split_once('-'))
        .filter(|(incarnation, _)| *incarnation == admin.incarnation)
        .and_then(|(_, n)| n.parse().ok())
        .map_or(Resume::Elsewhere, Resume::After)
}

/// The stream: where the client resumes, then each transition as it happens. A
/// client that fell more than 1,024 transitions behind is sent a `resync` event.
pub(super) async fn events(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = read_refused(&admin, &headers) {
        return refusal;
    }
    let (after, elsewhere) = match resume(&admin, &headers) {
        Resume::Start => (0, false),
        Resume::After(n) => (n, false),
        Resume::Elsewhere => (0, true),
    };
    let subscription = feed::feed().subscribe(after);
    let first: Vec<Event> = if elsewhere || subscription.missed {
        // What the client has is of another process, or too old: it reads everything
        // again, then follows from now on.
        vec![resync(&admin.incarnation, subscription.latest)]
    } else {
        subscription
            .backlog
            .iter()
            .map(|t| transition(&admin.incarnation, t))
            .collect()
    };
    let sent = match (
        elsewhere || subscription.missed,
        subscription.backlog.last(),
    ) {
        (false, Some(last)) => last.id,
        (false, None) => after,
        (true, _) => subscription.latest,
    };
    let incarnation = admin.incarnation.clone();
    let live = stream::unfold(
        (subscription.receiver, sent, incarnation),
        |(mut receiver, sent, incarnation)| async move {
            loop {
                match receiver.recv().await {
                    Ok(t) if t.id <= sent => continue,
                    Ok(t) => {
                        let event = transition(&incarnation, &t);
                        return Some((event, (receiver, t.id, incarnation)));
                    }
                    Err(RecvError::Lagged(_)) => {
                        let event = resync(&incarnation, sent);
                        return Some((event, (receiver, sent, incarnation)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let stream = stream::iter(first).chain(live).map(Ok::<_, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

fn transition(incarnation: &str, t: &Transition) -> Event {
    Event::default()
        .event("transition")
        .id(format!("{incarnation}-{}", t.id))
        .data(t.json())
}

/// Read the breakers again. Its id is the latest transition's, so that a client that
/// reconnects before the next one resumes from here.
fn resync(incarnation: &str, latest: u64) -> Event {
    Event::default()
        .event("resync")
        .id(format!("{incarnation}-{latest}"))
        .data("{}")
}
