//! Fuzz the collector's answer: a 2xx body read as an `ExportTraceServiceResponse` in either
//! encoding never panics, a partial success it reports always says something, and the exporter
//! fed that body keeps its accounting exact (sampled = exported + dropped + queued).
#![no_main]

use hoptrace_core::config::{BatchSettings, CollectorSettings, Encoding, RetrySettings};
use hoptrace_core::export::{ExportOutcome, Exporter};
use hoptrace_core::otlp::parse_response;
use libfuzzer_sys::fuzz_target;

/// Spans in the one batch the body answers.
const SPANS: usize = 4;

fuzz_target!(|data: &[u8]| {
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        if let Some(p) = parse_response(encoding, data) {
            assert!(p.rejected_spans > 0 || !p.error_message.is_empty());
        }
    }
    let batch = BatchSettings {
        max_export_batch_size: SPANS,
        ..BatchSettings::default()
    };
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let collector = CollectorSettings {
            encoding,
            ..CollectorSettings::default()
        };
        let mut e = Exporter::new(
            batch,
            RetrySettings::default(),
            &collector,
            Vec::new(),
            Vec::new(),
            1,
        );
        for _ in 0..SPANS {
            assert!(e.enqueue(vec![0x0a, 0x00], 0).is_ok());
        }
        let requests = e.poll(1);
        assert_eq!(requests.len(), 1);
        for r in requests {
            let outcome = ExportOutcome::Status {
                code: 200,
                retry_after: None,
                body: data.to_vec(),
            };
            e.on_response(r.id, outcome, 2);
        }
        let value = |name: &str| {
            e.metric_values()
                .iter()
                .find(|(n, _, _)| *n == name)
                .map_or(0, |(_, _, v)| *v)
        };
        let dropped: u64 = [
            "hoptrace.spans.dropped.queue_full",
            "hoptrace.spans.dropped.too_large",
            "hoptrace.spans.dropped.export_failed",
            "hoptrace.spans.dropped.rejected",
        ]
        .iter()
        .map(|n| value(n))
        .sum();
        assert_eq!(
            value("hoptrace.spans.sampled"),
            value("hoptrace.spans.exported") + dropped + value("hoptrace.queue.spans")
        );
        assert!(value("hoptrace.spans.dropped.rejected") <= SPANS as u64);
    }
});
