//! Collector faults under load (the short form in `make test`; `make soak` runs the long
//! form). For each fault a 1-worker Envoy gateway runs hoptrace at 100 % sampling under wrk load (8
//! connections, 127.0.0.1): three rounds of 1 s against a healthy collector and 1 s against the
//! faulty one, so background load on a shared machine hits both alike:
//!
//! - no request fails (wrk's non-2xx and socket errors are zero in both phases);
//! - p99 during the fault ≤ 2 × the healthy p99 + 5 ms, median window of each (a noisy shared 2-core
//!   machine: the long form reports the ratio itself). Only this bound can break by chance, so a
//!   run that breaks it alone is measured again on a fresh Envoy, and the second run must hold
//!   every bound;
//! - Envoy's RSS peak during the fault ≤ the healthy peak + 16 MiB;
//! - `/stats` satisfy sampled = exported + dropped (by reason) + queued exactly, at the fault's end
//!   (spans still queued) and after recovery; exported = what the collector accepted;
//! - once the collector is healthy again, a new request's span arrives within timeout + backoff (or
//!   Retry-After) + schedule delay + ticks + 1 s;
//! - a retried batch waits at least its backoff or `Retry-After`;
//! - the filter's log lines stay within the rate limit.
//!
//! A 2-worker run checks that the identity sums over the VMs (it did not: the queue gauges were
//! the last VM's).
//!
//! The runs are serialised (a lock), so one fault's load never skews another's latency. Each prints
//! its table line (fault, p99 ratio, RSS peak, identity, recovery time).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Mutex, PoisonError};

use hoptrace_e2e::fault_scenario::{self, Bounds, FaultRun, Phases, Row};

/// One load test at a time in this binary.
static SERIAL: Mutex<()> = Mutex::new(());

fn run(name: &str) -> Row {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let case = fault_scenario::case(name).unwrap_or_else(|| panic!("no fault case {name:?}"));
    let bounds = Bounds::short();
    let first = measure(&case);
    let latency_alone = first
        .latency_violation(&bounds)
        .is_some_and(|latency| first.violations(&bounds) == [latency]);
    if !latency_alone {
        assert_holds(&case, &first, &bounds);
        return first;
    }
    // Every other bound is exact and held; p99 is the one a burst of background load can break
    // (CI once saw two of three fault windows at 25 and 17 ms while the soak's 60 s measured
    // 1.17x). A slowdown the filter causes repeats; a burst of noise seldom hits the fault
    // windows of two fresh runs in a row.
    println!("{name}: p99 bound broken once; measuring again on a fresh Envoy to confirm");
    let second = measure(&case);
    assert_holds(&case, &second, &bounds);
    second
}

fn measure(case: &fault_scenario::Case) -> Row {
    let run = FaultRun::start(1).unwrap();
    let row = run.measure(case, &Phases::short()).unwrap();
    println!("{}\n{}", Row::table_header(), row.table_line());
    row
}

fn assert_holds(case: &fault_scenario::Case, row: &Row, bounds: &Bounds) {
    let violations = row.violations(bounds);
    assert!(
        violations.is_empty(),
        "{}:\n  {}\n{}\n{row:#?}",
        case.name,
        violations.join("\n  "),
        row.table_line()
    );
}

#[test]
fn collector_down_connection_refused() {
    run("down");
}

#[test]
fn collector_black_holed() {
    run("black hole");
}

#[test]
fn collector_slow_past_the_callout_timeout() {
    run("slow");
}

#[test]
fn collector_503_with_retry_after() {
    run("503");
}

#[test]
fn collector_429() {
    run("429");
}

#[test]
fn collector_400_is_permanent() {
    run("400");
}

#[test]
fn collector_partial_success() {
    let row = run("partial");
    assert!(row.settled.dropped("rejected") > 0, "{:?}", row.settled);
}

#[test]
fn collector_flapping() {
    run("flapping");
}

#[test]
fn identity_sums_over_two_worker_vms() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let case = fault_scenario::case("down").unwrap();
    let run = FaultRun::start(2).unwrap();
    let phases = Phases {
        connections: 16,
        ..Phases::short()
    };
    let row = run.measure(&case, &phases).unwrap();
    println!("{}\n{}", Row::table_header(), row.table_line());
    for a in [&row.after_healthy, &row.at_fault_end, &row.settled] {
        assert!(a.balanced(), "{}: {a:?}", Row::identity_text(a));
    }
}
