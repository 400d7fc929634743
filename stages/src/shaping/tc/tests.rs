//! Tests of the tc namespace backend; they sit in their own file to keep the
//! implementation short.

use super::*;
use crate::shaping::measure;

const PREFIX: &str = "snnitest";

fn namespaces() -> Vec<String> {
    Tool::ip(&["netns", "list"])
        .run()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Whether the tc tests run: they need rate shaping in namespaces (iproute2 and root).
/// Missing, the test fails naming what is missing, unless `SNNI_SKIP_TC=1` says to skip on
/// purpose (then it says so loudly and passes).
fn rate_shaping_available() -> bool {
    let missing = probe().missing(false);
    if missing.is_empty() {
        return true;
    }
    if std::env::var("SNNI_SKIP_TC").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED ON PURPOSE (SNNI_SKIP_TC=1): tc rate shaping unavailable: {}",
            missing.join(", ")
        );
        return false;
    }
    panic!(
        "tc rate shaping is unavailable here: {}. Install iproute2 and run as root (CI \
         does), or set SNNI_SKIP_TC=1 to skip the tc tests on purpose",
        missing.join(", ")
    );
}

fn rate_only(bandwidth_bps: u64) -> LinkSpec {
    LinkSpec {
        bandwidth_bps: Some(bandwidth_bps),
        ..LinkSpec::default()
    }
}

#[test]
fn qdisc_follows_the_spec() {
    assert_eq!(Qdisc::for_spec(&LinkSpec::unshaped()), None);
    assert_eq!(
        Qdisc::for_spec(&rate_only(1_000_000)),
        Some(Qdisc::Tbf {
            rate_bps: 1_000_000
        })
    );
    let wan = LinkSpec {
        bandwidth_bps: Some(100_000_000),
        rtt: Some(Duration::from_millis(40)),
        loss_percent: Some(0.5),
    };
    let qdisc = Qdisc::for_spec(&wan).expect("shaped");
    assert_eq!(
        qdisc.args().join(" "),
        "netem limit 1666 delay 20000us rate 100000000bit loss 0.5%"
    );
}

#[test]
fn owner_pid_only_matches_our_names() {
    assert_eq!(owner_pid("snni-42-0-s", "snni"), Some(42));
    assert_eq!(owner_pid("snni-42-7-c", "snni"), Some(42));
    assert_eq!(owner_pid("snni-42-7-x", "snni"), None);
    assert_eq!(owner_pid("snnix-42-7-s", "snni"), None);
    assert_eq!(owner_pid("other-42-7-s", "snni"), None);
}

#[test]
fn probe_reports_what_works() {
    let probe = probe();
    eprintln!("probe: {probe}");
    eprintln!("missing for delay/loss: {:?}", probe.missing(true));
    if !probe.netem {
        let error = TcError::Unavailable {
            missing: probe.missing(true),
            hint: FALLBACK_HINT.to_owned(),
        };
        let message = error.to_string();
        eprintln!("error: {message}");
        assert!(message.contains("sch_netem"), "{message}");
        assert!(
            message.ends_with("use `backend: relay` or `auto`"),
            "{message}"
        );
    }
    let probes_left: Vec<_> = namespaces()
        .into_iter()
        .filter(|ns| owner_pid(ns, "snni-probe") == Some(std::process::id()))
        .collect();
    assert!(probes_left.is_empty(), "{probes_left:?}");
}

/// A delayed link needs netem: where the probe says it works, the link is made; where it
/// does not, the error names what is missing. Either way the probe and `create` agree.
#[test]
fn delay_needs_netem_and_the_probe_agrees() {
    if !rate_shaping_available() {
        return;
    }
    let spec = LinkSpec {
        rtt: Some(Duration::from_millis(10)),
        ..LinkSpec::default()
    };
    match TcLink::create(&spec, PREFIX) {
        Ok(link) => assert!(
            probe().netem_works(),
            "a delayed link without netem: {link:?}"
        ),
        Err(error) => {
            assert!(!probe().netem_works(), "netem works, yet: {error}");
            assert!(matches!(error, TcError::Unavailable { .. }), "{error}");
        }
    }
}

#[test]
fn a_rate_limited_link_never_exceeds_its_rate() {
    if !rate_shaping_available() {
        return;
    }
    // One-sided: shaping caps the rate, and load can only lower it (a fifth over for the
    // burst tc lets through). How close it comes to the target is in the fidelity
    // benchmark, `pipeline/benches/shaping_fidelity.rs`.
    let target = 100_000_000u64;
    let (names, shaped) = {
        let link = TcLink::create(&rate_only(target), PREFIX).expect("create shaped link");
        let names = vec![link.server_ns.clone(), link.client_ns.clone()];
        (
            names,
            measure::tc_rate(&link, 12_500_000).expect("measure the rate"),
        )
    };
    assert!(
        shaped <= target as f64 * 1.2,
        "{:.1} Mbit/s arrived through a {} Mbit/s link",
        shaped / 1e6,
        target / 1_000_000
    );
    let left = namespaces();
    for ns in &names {
        assert!(!left.contains(ns), "{ns} left behind");
    }
}

#[test]
fn panicking_test_body_still_tears_down() {
    if !rate_shaping_available() {
        return;
    }
    let mut names = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let link = TcLink::create(&rate_only(10_000_000), PREFIX).expect("create link");
        names = vec![link.server_ns.clone(), link.client_ns.clone()];
        let listed = namespaces();
        assert!(names.iter().all(|ns| listed.contains(ns)), "{listed:?}");
        panic!("test body fails");
    }));
    assert!(result.is_err());
    assert_eq!(names.len(), 2);
    let left = namespaces();
    assert!(names.iter().all(|ns| !left.contains(ns)), "{left:?}");
}

#[test]
fn teardown_is_idempotent() {
    if !rate_shaping_available() {
        return;
    }
    let mut link = TcLink::create(&rate_only(10_000_000), PREFIX).expect("create link");
    link.teardown().expect("first teardown");
    link.teardown().expect("second teardown");
    let left = namespaces();
    assert!(!left.contains(&link.server_ns) && !left.contains(&link.client_ns));
}

#[test]
fn failure_midway_removes_what_was_created() {
    if !rate_shaping_available() {
        return;
    }
    // A zero rate is rejected by `tc` only after both namespaces and the veth pair
    // exist, so creation fails halfway.
    let base = format!("{PREFIX}-{}-midway", std::process::id());
    let error = TcLink::create_named(&base, Some(&Qdisc::Tbf { rate_bps: 0 }))
        .expect_err("tc rejects rate 0");
    eprintln!("error: {error}");
    assert!(matches!(error, TcError::Failed { .. }), "{error}");
    let left: Vec<_> = namespaces()
        .into_iter()
        .filter(|ns| ns.starts_with(&base))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn cleanup_stale_removes_dead_runs_only() {
    if !rate_shaping_available() {
        return;
    }
    // A namespace named as if by a process that no longer exists (pid beyond pid_max).
    let stale = format!("{PREFIX}-4999999-0-s");
    Tool::netns_add(&stale).run().expect("add stale namespace");
    let live = TcLink::create(&rate_only(10_000_000), PREFIX).expect("create link");
    let deleted = cleanup_stale(PREFIX).expect("cleanup");
    let left = namespaces();
    if left.contains(&stale) {
        let _ = Tool::netns_delete(&stale).run();
    }
    assert!(deleted.contains(&stale), "{deleted:?}");
    assert!(left.contains(&live.server_ns) && left.contains(&live.client_ns));
    assert!(!left.contains(&stale));
}
