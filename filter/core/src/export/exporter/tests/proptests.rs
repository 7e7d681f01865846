//! The accounting identity and the bounds, checked after every step of random event sequences.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Enqueue(usize),
    Advance(u64),
    Poll,
    Flush,
    /// Answer the n-th outstanding attempt (modulo their number).
    Answer(usize, Answer),
    /// Answer an id that was never issued.
    Bogus,
}

#[derive(Debug, Clone)]
enum Answer {
    Ok,
    Partial(i64),
    Retryable(u16, Option<u64>),
    Permanent(u16),
    Timeout,
    Failed,
}

fn step() -> impl Strategy<Value = Step> {
    let answer = prop_oneof![
        Just(Answer::Ok),
        (-1i64..8).prop_map(Answer::Partial),
        (
            prop_oneof![Just(429u16), Just(502), Just(503), Just(504)],
            proptest::option::of(0u64..20)
        )
            .prop_map(|(c, ra)| Answer::Retryable(c, ra)),
        prop_oneof![Just(400u16), Just(404), Just(500)].prop_map(Answer::Permanent),
        Just(Answer::Timeout),
        Just(Answer::Failed),
    ];
    prop_oneof![
        4 => (0usize..400).prop_map(Step::Enqueue),
        1 => (1_800usize..2_100).prop_map(Step::Enqueue),
        2 => (0u64..8_000).prop_map(Step::Advance),
        2 => Just(Step::Poll),
        1 => Just(Step::Flush),
        3 => (any::<usize>(), answer).prop_map(|(i, a)| Step::Answer(i, a)),
        1 => Just(Step::Bogus),
    ]
}

fn outcome(a: &Answer) -> ExportOutcome {
    match a {
        Answer::Ok => ExportOutcome::status(200),
        Answer::Partial(r) => ExportOutcome::Status {
            code: 200,
            retry_after: None,
            body: ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: *r,
                    error_message: String::new(),
                }),
            }
            .encode_to_vec(),
        },
        Answer::Retryable(c, ra) => ExportOutcome::Status {
            code: *c,
            retry_after: ra.map(|s| s.to_string()),
            body: Vec::new(),
        },
        Answer::Permanent(c) => ExportOutcome::status(*c),
        Answer::Timeout => ExportOutcome::Timeout,
        Answer::Failed => ExportOutcome::Failed,
    }
}

fn bounds(e: &Exporter, b: &BatchSettings) {
    check(e);
    assert!(e.queue_spans() <= b.max_queue_size);
    assert!(e.queue_bytes() <= b.max_queue_bytes);
    assert!(e.active_batches() <= b.max_concurrent_exports);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn accounting_identity_holds_at_every_step(
        steps in proptest::collection::vec(step(), 1..120),
        batch_size in 1usize..6,
        queue_size in 6usize..20,
        concurrent in 1usize..4,
    ) {
        let b = BatchSettings {
            max_queue_size: queue_size,
            max_queue_bytes: 2_000,
            max_export_batch_size: batch_size,
            schedule_delay_ms: 3_000,
            max_concurrent_exports: concurrent,
        };
        let r = RetrySettings { initial_backoff_ms: 500, max_backoff_ms: 4_000, max_elapsed_ms: 20_000 };
        let mut e = exporter(b, r);
        let mut now = T0;
        let mut outstanding: Vec<u64> = Vec::new();
        for s in &steps {
            match s {
                Step::Enqueue(len) => { let _ = e.enqueue(span(*len), now); }
                Step::Advance(ms) => now += ms * MS,
                Step::Poll => outstanding.extend(e.poll(now).iter().map(|r| r.id)),
                Step::Flush => outstanding.extend(e.flush(now).iter().map(|r| r.id)),
                Step::Answer(i, a) => {
                    if !outstanding.is_empty() {
                        let id = outstanding.remove(i % outstanding.len());
                        e.on_response(id, outcome(a), now);
                    }
                }
                Step::Bogus => e.on_response(u64::MAX, ExportOutcome::status(200), now),
            }
            bounds(&e, &b);
        }
        // A healthy collector drains everything: nothing is lost or counted twice.
        for _ in 0..10_000 {
            if e.queue_spans() == 0 { break; }
            now += 500 * MS;
            outstanding.extend(e.flush(now).iter().map(|r| r.id));
            for id in outstanding.drain(..) {
                e.on_response(id, ExportOutcome::status(200), now);
            }
            bounds(&e, &b);
        }
        prop_assert_eq!(e.queue_spans(), 0);
        prop_assert_eq!(e.queue_bytes(), 0);
        let c = e.counters();
        prop_assert_eq!(c.recorded(), c.spans_exported + c.dropped());
    }
}
