//! OpenTelemetry in tests: a subscriber with `tracing_opentelemetry::layer()` exporting
//! to the SDK's in-memory exporter, and lookups into the finished spans.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

/// Traces recorded on this thread from `start` to `finish` (tasks of a current-thread
/// runtime included).
pub struct Traces {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _default: tracing::subscriber::DefaultGuard,
}

impl Traces {
    pub fn start() -> Traces {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("breaker-tests"));
        let subscriber = tracing_subscriber::registry().with(layer);
        Traces {
            exporter,
            provider,
            _default: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The spans finished so far.
    pub fn finish(self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }
}

/// Runs `f` and returns the spans it finished.
pub fn traced(f: impl FnOnce()) -> Vec<SpanData> {
    let traces = Traces::start();
    f();
    traces.finish()
}

pub fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

pub fn attribute<'a>(attributes: &'a [KeyValue], name: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == name)
        .map(|kv| &kv.value)
}

pub fn string(value: Option<&Value>) -> Option<String> {
    value.map(|v| v.as_str().into_owned())
}

/// The span event `name` of `span`.
pub fn event<'a>(span: &'a SpanData, name: &str) -> Option<&'a opentelemetry::trace::Event> {
    span.events.iter().find(|e| e.name == name)
}
