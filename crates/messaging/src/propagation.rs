//! W3C trace context across the asynchronous hop: captured from the current span when an
//! outbox row is written, carried in AMQP headers, restored as the parent of the consumer span.

use opentelemetry::propagation::{Extractor, Injector};
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The current span's `traceparent`/`tracestate`, empty when tracing export is off.
pub fn capture_current() -> BTreeMap<String, String> {
    struct MapInjector<'a>(&'a mut BTreeMap<String, String>);
    impl Injector for MapInjector<'_> {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key.to_owned(), value);
        }
    }
    let mut headers = BTreeMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MapInjector(&mut headers));
    });
    headers
}

/// Makes `span` a child of the trace context found in `headers`, if any.
pub fn restore_parent(span: &tracing::Span, headers: &BTreeMap<String, String>) {
    struct MapExtractor<'a>(&'a BTreeMap<String, String>);
    impl Extractor for MapExtractor<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).map(String::as_str)
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(String::as_str).collect()
        }
    }
    if headers.is_empty() {
        return;
    }
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&MapExtractor(headers)));
    let _ = span.set_parent(parent);
}

/// Trace headers as stored with a row (a JSON object of strings, e.g. the outbox's
/// `trace_headers`), back as a map; anything else is no context.
pub fn headers_from_json(value: &sea_orm::JsonValue) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|headers| {
            headers
                .iter()
                .filter_map(|(key, value)| value.as_str().map(|v| (key.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}
