//! Tests of the tc namespace backend; they sit in their own file to keep the
//! implementation short.

use std::io::Read;
use std::process::Stdio;
use std::time::Instant;

use super::*;

const PREFIX: &str = "snnitest";

fn namespaces() -> Vec<String> {
    Tool::ip(&["netns", "list"])
        .run()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Skips (with a printed reason) unless rate shaping in namespaces works here.
fn rate_shaping_available() -> bool {
    let probe = probe();
    let missing = probe.missing(false);
    if !missing.is_empty() {
        eprintln!(
            "skipped: tc rate shaping unavailable: {}",
            missing.join(", ")
        );
    }
    missing.is_empty()
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

#[test]
fn delay_without_netem_names_what_is_missing() {
    let probe = probe();
    if probe.netem_works() {
        eprintln!("skipped: netem works here");
        return;
    }
    let spec = LinkSpec {
        rtt: Some(Duration::from_millis(10)),
        ..LinkSpec::default()
    };
    let error = TcLink::create(&spec, PREFIX).expect_err("netem is missing");
    assert!(matches!(error, TcError::Unavailable { .. }), "{error}");
}

/// Sends `bytes` from the client namespace to the server namespace over TCP and
/// returns the receiver's throughput in bit/s.
fn measure_throughput(link: &TcLink, bytes: usize) -> f64 {
    const PORT: u16 = 47_313;
    let receiver = format!(
        "import socket,time,sys\n\
         s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{addr}',{PORT})); s.listen(1); print('ready', flush=True)\n\
         c,_=s.accept(); n=0; t0=None\n\
         while True:\n\
         \x20   b=c.recv(1<<16)\n\
         \x20   if not b: break\n\
         \x20   if t0 is None: t0=time.monotonic()\n\
         \x20   n+=len(b)\n\
         print(n, time.monotonic()-t0, flush=True)\n",
        addr = link.server_addr()
    );
    let sender = format!(
        "import socket\n\
         s=socket.create_connection(('{addr}',{PORT}))\n\
         b=bytes(1<<16); left={bytes}\n\
         while left>0:\n\
         \x20   k=min(left,len(b)); s.sendall(b[:k]); left-=k\n\
         s.close()\n",
        addr = link.server_addr()
    );
    let mut server = link
        .server_command("python3")
        .args(["-c", &receiver])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start receiver");
    let mut out = server.stdout.take().expect("stdout");
    let mut ready = [0u8; 6];
    out.read_exact(&mut ready).expect("receiver ready");
    let status = link
        .client_command("python3")
        .args(["-c", &sender])
        .status()
        .expect("run sender");
    assert!(status.success(), "sender: {status}");
    let mut report = String::new();
    out.read_to_string(&mut report).expect("receiver report");
    assert!(server.wait().expect("receiver").success());
    let mut fields = report.split_whitespace();
    let received: f64 = fields.next().expect("bytes").parse().expect("bytes");
    let seconds: f64 = fields.next().expect("seconds").parse().expect("seconds");
    assert_eq!(received as usize, bytes);
    received * 8.0 / seconds
}

#[test]
fn rate_only_link_shapes_throughput() {
    if !rate_shaping_available() {
        return;
    }
    let start = Instant::now();
    let target = 100_000_000u64;
    let (shaped_ns, shaped) = {
        let link = TcLink::create(&rate_only(target), PREFIX).expect("create shaped link");
        let names = vec![link.server_ns.clone(), link.client_ns.clone()];
        (names, measure_throughput(&link, 25_000_000))
    };
    let (unshaped_ns, unshaped) = {
        let link = TcLink::create(&LinkSpec::unshaped(), PREFIX).expect("create link");
        let names = vec![link.server_ns.clone(), link.client_ns.clone()];
        (names, measure_throughput(&link, 100_000_000))
    };
    eprintln!(
        "shaped {:.1} Mbit/s (target {} Mbit/s), unshaped {:.1} Mbit/s, {:.1?}",
        shaped / 1e6,
        target / 1_000_000,
        unshaped / 1e6,
        start.elapsed()
    );
    assert!(shaped < unshaped / 2.0, "shaping had no effect");
    let ratio = shaped / target as f64;
    assert!(
        (0.8..=1.2).contains(&ratio),
        "shaped at {ratio:.2} of the target"
    );
    let left = namespaces();
    for ns in shaped_ns.iter().chain(&unshaped_ns) {
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
