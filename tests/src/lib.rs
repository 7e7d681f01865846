//! End-to-end harness: Envoy processes, an echo upstream, an OTLP receiver.
