//! Feature `tracing`: state changes and rejections become `tracing` events.

use std::io::Write;
use std::sync::{Arc, Mutex};

use breaker_runtime::CircuitBreaker;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn captured(f: impl FnOnce()) -> Vec<String> {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text.lines().map(str::to_owned).collect()
}

#[test]
fn transitions_are_logged_warn_on_open_info_otherwise_and_rejections_debug() {
    let lines = captured(|| {
        let b = CircuitBreaker::builder("traced").fail_max(1).build();
        let _ = b.call(|| Err::<(), Box<dyn std::error::Error + Send + Sync>>("down".into()));
        assert!(b.try_acquire().is_err());
        b.half_open();
    });
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with(" WARN"), "{}", lines[0]);
    assert!(
        lines[0].contains("breaker=\"traced\" from=closed to=open"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("DEBUG"), "{}", lines[1]);
    assert!(
        lines[1].contains("circuit breaker 'traced' is open; retry in 60s"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with(" INFO"), "{}", lines[2]);
    assert!(lines[2].contains("from=open to=half-open"), "{}", lines[2]);
}

#[test]
fn a_rejection_is_recorded_inside_the_callers_span() {
    let lines = captured(|| {
        let b = CircuitBreaker::builder("traced-span").build();
        b.open();
        let span = tracing::info_span!("request", id = 7);
        let _entered = span.enter();
        let rejected = b.call(|| Ok::<(), Box<dyn std::error::Error + Send + Sync>>(()));
        assert!(rejected.is_err());
    });
    let rejection = lines
        .iter()
        .find(|l| l.contains("call rejected"))
        .expect("a rejection event");
    assert!(
        rejection.starts_with("DEBUG request{id=7}: breaker_runtime"),
        "the event belongs to the caller's span: {rejection}"
    );
    assert!(
        rejection.contains("breaker=\"traced-span\" reason=Open"),
        "{rejection}"
    );
}

#[test]
fn the_event_of_a_transition_a_call_caused_carries_its_error_and_duration() {
    let lines = captured(|| {
        let clock = breaker_runtime::ManualClock::new();
        let b = CircuitBreaker::builder("traced-cause")
            .fail_max(1)
            .clock(clock.clone())
            // A listener is attached, so the call's duration is measured.
            .listener(breaker_tests::Recorder::default())
            .build();
        let _ = b.call(|| {
            clock.advance(std::time::Duration::from_millis(120));
            Err::<(), std::io::Error>(std::io::ErrorKind::ConnectionReset.into())
        });
    });
    let opened = lines
        .iter()
        .find(|l| l.contains("opened"))
        .expect("an opening event");
    assert!(
        opened.contains("from=closed to=open error=Kind(ConnectionReset) elapsed=120ms"),
        "{opened}"
    );
}
