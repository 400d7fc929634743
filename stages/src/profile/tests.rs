//! Planning tests of the profile kind: shard keys, network selection, per-shard inputs
//! and exclusivity. Running shards needs the `snni` binary; the end-to-end tests do that.

use serde_json::json;
use snni_artifacts::{Digest, Output, Record};

use super::*;
use crate::kind::{Reservation, StageKind};
use crate::Setting;

fn upstream(stage: &str, ids: &[&str]) -> UpstreamStage {
    let mut record = Record::new(Digest::of(stage.as_bytes()), stage, None);
    for id in ids {
        let digest = Digest::of(id.as_bytes());
        record = record.with_output(
            format!("{id}/network"),
            Output::blob(digest, 10, "application/yaml"),
        );
    }
    UpstreamStage {
        name: stage.to_string(),
        kind: "synthesize".into(),
        record,
    }
}

fn params(value: Value) -> Value {
    let settings = Setting::builtins();
    ProfileKind
        .check_params(
            &value,
            &CheckContext {
                settings: &settings,
                files: None,
            },
        )
        .unwrap()
}

/// A store for plan contexts (planning the profile stage never reads it).
fn store() -> &'static snni_artifacts::Store {
    static STORE: std::sync::OnceLock<(tempfile::TempDir, snni_artifacts::Store)> =
        std::sync::OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store =
                snni_artifacts::Store::open(dir.path(), snni_artifacts::OnLocked::Fail).unwrap();
            (dir, store)
        })
        .1
}

fn context<'a>(params: &'a Value, upstream: &'a [UpstreamStage]) -> PlanContext<'a> {
    PlanContext {
        params,
        seed: 7,
        upstream,
        store: store(),
    }
}

#[test]
fn shard_keys_round_trip() {
    let key = ShardKey::format("synth-0003", "lan", 4);
    assert_eq!(key, "synth-0003.lan.r04");
    let parsed = ShardKey::parse(&key).unwrap();
    assert_eq!(
        parsed,
        ShardKey {
            network: "synth-0003",
            setting: "lan",
            run: 4
        }
    );
    assert_eq!(ShardKey::parse("a.b.c.lan.r10").unwrap().network, "a.b.c");
    assert!(ShardKey::parse("synth-0003.lan").is_none());
    assert!(ShardKey::parse("synth-0003.lan.x1").is_none());
}

#[test]
fn shards_are_run_major_with_unshaped_settings_first() {
    let up = [
        upstream("synth", &["synth-0000", "synth-0001"]),
        upstream("reference", &["squeezenet"]),
    ];
    let p = params(
        json!({"settings": ["lan", "local"], "runs": 2, "networks": ["synth", "squeezenet"]}),
    );
    let shards = ProfileKind.shards(&context(&p, &up)).unwrap();
    assert_eq!(shards.len(), 12);
    assert_eq!(
        shards[..4],
        [
            "synth-0000.local.r00",
            "synth-0001.local.r00",
            "squeezenet.local.r00",
            "synth-0000.local.r01"
        ]
    );
    assert!(shards[6..].iter().all(|s| s.contains(".lan.")));
    let only = params(json!({"networks": ["synth-0001"], "runs": 1}));
    assert_eq!(
        ProfileKind.shards(&context(&only, &up)).unwrap(),
        ["synth-0001.local.r00"]
    );
    let bad = params(json!({"networks": ["resnet"], "runs": 1}));
    let err = ProfileKind
        .shards(&context(&bad, &up))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`resnet`") && err.contains("synth, reference"),
        "{err}"
    );
}

#[test]
fn a_shard_depends_on_its_network_and_setting_only() {
    let small = [upstream("synth", &["synth-0000"])];
    let grown = [upstream("synth", &["synth-0000", "synth-0001"])];
    let p = params(json!({"settings": ["local", "lan"]}));
    let inputs = |up: &[UpstreamStage], shard: &str| {
        ProfileKind.shard_upstream(&context(&p, up), shard).unwrap()
    };
    assert_eq!(
        inputs(&small, "synth-0000.lan.r00"),
        inputs(&grown, "synth-0000.lan.r00")
    );
    assert_ne!(
        inputs(&grown, "synth-0000.lan.r00"),
        inputs(&grown, "synth-0001.lan.r00")
    );
    assert_ne!(
        inputs(&grown, "synth-0000.lan.r00"),
        inputs(&grown, "synth-0000.local.r00")
    );
    // Adding runs or settings leaves the shard parameters alone.
    let more = params(json!({"settings": ["local", "lan", "wan"], "runs": 20}));
    assert_eq!(
        ProfileKind.shard_params(&p),
        ProfileKind.shard_params(&more)
    );
    let other_ell = params(json!({"settings": ["local", "lan"], "ell": 40}));
    assert_ne!(
        ProfileKind.shard_params(&p),
        ProfileKind.shard_params(&other_ell)
    );
}

#[test]
fn shaped_shards_are_exclusive_unless_allowed_or_reserving() {
    let p = params(json!({"settings": ["local", "wan"]}));
    let exclusive = Reservation::Exclusive;
    assert_eq!(ProfileKind.reservation(&p, "synth-0000.wan.r00"), exclusive);
    // An unshaped shard counts its two parties' CPUs.
    assert_eq!(
        ProfileKind.reservation(&p, "synth-0000.local.r00"),
        Reservation::Cpus(2)
    );
    let threads = params(json!({"settings": ["local"], "threads": 2}));
    assert_eq!(
        ProfileKind.reservation(&threads, "synth-0000.local.r00"),
        Reservation::Cpus(4)
    );
    let shared = params(json!({"settings": ["local", "wan"], "exclusive_shaped": false}));
    assert_eq!(
        ProfileKind.reservation(&shared, "synth-0000.wan.r00"),
        Reservation::Cpus(2)
    );
    // Pinned parties share their CPUs with nothing: every shard runs alone.
    let pinned = params(json!({"settings": ["local", "wan"], "cpus": [0]}));
    assert_eq!(
        ProfileKind.reservation(&pinned, "synth-0000.local.r00"),
        exclusive
    );
    // Shaped shards with CPUs of their own run side by side; local ones share slots.
    let reserving = params(json!({"settings": ["local", "wan"], "shaped_cpus": 2}));
    assert_eq!(
        ProfileKind.reservation(&reserving, "synth-0000.wan.r00"),
        Reservation::Pinned(2)
    );
    assert_eq!(
        ProfileKind.reservation(&reserving, "synth-0000.local.r00"),
        Reservation::Cpus(2)
    );
    assert_ne!(
        ProfileKind.shard_params(&p),
        ProfileKind.shard_params(&pinned)
    );
}

#[test]
fn duplicate_network_ids_are_refused() {
    let up = [upstream("a", &["net"]), upstream("b", &["net"])];
    let p = params(json!({}));
    let err = ProfileKind
        .shards(&context(&p, &up))
        .unwrap_err()
        .to_string();
    assert!(err.contains("both `a` and `b`"), "{err}");
}

#[test]
fn backend_none_for_unshaped_settings() {
    assert_eq!(
        BackendUsed::choose(Backend::Tc, &Setting::LOCAL),
        BackendUsed::None
    );
    assert_eq!(
        BackendUsed::choose(Backend::Relay, &Setting::LAN),
        BackendUsed::Relay
    );
}

#[test]
fn a_new_engine_version_re_measures_profiles() {
    assert_eq!(
        MEASURED_WITH_ENGINE,
        snni_engine::VERSION,
        "the engine's version changed: bump ProfileKind::version (its timings change) and \
         MEASURED_WITH_ENGINE with it"
    );
}

#[test]
fn a_shard_is_measured_again_when_unsteady_first_then_when_slow() {
    let probe = ProbeParams::default();
    let at = |he_per_s: f64| SpeedProbe {
        he_per_s,
        ot_per_s: 1e7,
        seconds: 0.5,
    };
    // Steady and at the usual speed, or with no usual speed known yet: kept.
    assert_eq!(remeasure(&probe, &at(36.0), &at(37.0), Some(37.0)), None);
    assert_eq!(remeasure(&probe, &at(20.0), &at(21.0), None), None);
    // Steady, but a quarter below the usual speed throughout (the mid study's slow runs).
    let Some(Remeasure::Slow { slowness, .. }) =
        remeasure(&probe, &at(28.0), &at(27.0), Some(37.0))
    else {
        panic!("a shard 26 % below the usual speed is slow");
    };
    assert!((slowness - (1.0 - 27.5 / 37.0)).abs() < 1e-12);
    // Within `slow` of it: kept; faster than usual is never slow.
    assert_eq!(remeasure(&probe, &at(30.0), &at(31.0), Some(37.0)), None);
    assert_eq!(remeasure(&probe, &at(50.0), &at(50.0), Some(37.0)), None);
    // The probes disagree: unsteady, whatever the usual speed.
    assert!(matches!(
        remeasure(&probe, &at(36.0), &at(20.0), Some(37.0)),
        Some(Remeasure::Unsteady(d)) if (d - 16.0 / 36.0).abs() < 1e-12
    ));
    // `slow: 1` switches the check off.
    let off = ProbeParams { slow: 1.0, ..probe };
    assert_eq!(remeasure(&off, &at(3.0), &at(3.0), Some(37.0)), None);
}

#[test]
fn a_slow_shard_waits_for_the_usual_speed_at_most_probe_wait() {
    let probe = ProbeParams {
        wait: 3.0,
        ..ProbeParams::default()
    };
    let rate = |he_per_s| SpeedProbe {
        he_per_s,
        ot_per_s: 1e7,
        seconds: 0.0,
    };
    // Back at the usual speed at the first probe: one pause.
    let probes = std::cell::Cell::new(0);
    let quick = || {
        probes.set(probes.get() + 1);
        Ok(rate(36.0))
    };
    let waited = wait_for_usual_speed(&probe, 37.0, &quick, &|| false).unwrap();
    assert_eq!(probes.get(), 1);
    assert!(waited < 2.9, "{waited}");
    // Never back: waits `wait` and gives up.
    probes.set(0);
    let stuck = || {
        probes.set(probes.get() + 1);
        Ok(rate(20.0))
    };
    let waited = wait_for_usual_speed(&probe, 37.0, &stuck, &|| false).unwrap();
    assert_eq!(probes.get(), 2, "a probe after 2 s and one at 3 s");
    assert!((3.0..4.0).contains(&waited), "{waited}");
    // A cancel stops the wait before it probes.
    probes.set(0);
    let waited = wait_for_usual_speed(&probe, 37.0, &stuck, &|| true).unwrap();
    assert_eq!(probes.get(), 0);
    assert!(waited < 0.5, "{waited}");
}
