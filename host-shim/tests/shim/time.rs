//! The virtual clock and the tick timer: ticks fire once per elapsed period under
//! `Host::advance`, re-armed from "now" when the period changes, and guest time matches.

use std::time::{Duration, UNIX_EPOCH};

use hoptrace_shim::{Host, HostOptions};

use crate::common::guest::Guest;

/// Ticks every 1 s; each tick logs `tick <virtual seconds> <wasi seconds>`; on the third tick
/// it switches to 250 ms.
fn ticking_guest() -> Guest {
    let mut g = Guest::new();
    let tick = g.s("tick");
    g.func(&format!(
        r#"
        (global $ticks (mut i32) (i32.const 0))
        (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
          (drop (call $proxy_set_tick_period_milliseconds (i32.const 1000)))
          (i32.const 1))
        (func (export "proxy_on_tick") (param $ctx i32)
          (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
          (drop (call $proxy_get_current_time_nanoseconds (i32.const 1032)))
          (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 1048)))
          (call $line_start {tick})
          (call $line_num (i32.wrap_i64 (i64.div_u (i64.load (i32.const 1032)) (i64.const 1000000000))))
          (call $line_num (i32.wrap_i64 (i64.div_u (i64.load (i32.const 1048)) (i64.const 1000000000))))
          (call $line_end)
          (if (i32.eq (global.get $ticks) (i32.const 3))
            (then (drop (call $proxy_set_tick_period_milliseconds (i32.const 250))))))"#
    ));
    g
}

fn ticks(host: &Host) -> Vec<String> {
    host.logs().map(|l| l.message.clone()).collect()
}

#[test]
fn ticks_fire_per_elapsed_period_with_virtual_time() {
    let start = UNIX_EPOCH + Duration::from_secs(1_000);
    let options = HostOptions {
        start_time: start,
        ..Default::default()
    };
    let mut host = Host::load_with(ticking_guest().bytes(), "", options).unwrap();
    assert_eq!(host.tick_period(), Some(Duration::from_secs(1)));

    host.advance(Duration::from_millis(2_500)).unwrap();
    assert_eq!(ticks(&host), ["tick 1001 1001", "tick 1002 1002"]);
    assert_eq!(host.elapsed(), Duration::from_millis(2_500));

    // The third tick (t = 3 s) sets 250 ms: the next ones come at 3.25, 3.5, 3.75 s.
    host.advance(Duration::from_millis(1_000)).unwrap();
    assert_eq!(ticks(&host).len(), 3 + 2);
    assert_eq!(host.tick_period(), Some(Duration::from_millis(250)));
    assert_eq!(
        host.host_calls()
            .by_callback
            .get("proxy_on_tick")
            .map(|c| c.0),
        Some(5)
    );
}

#[test]
fn no_tick_without_a_period() {
    let mut host = Host::load(Guest::new().bytes(), "").unwrap();
    host.advance(Duration::from_secs(3600)).unwrap();
    assert_eq!(host.tick_period(), None);
    assert_eq!(host.host_calls().by_callback.get("proxy_on_tick"), None);
}
