//! End to end: `snni run`, `plan`, `check`, caching, resuming after kill -9, locking,
//! artifacts and gc, all through the binary.

mod common;

use common::{repo_root, small_manifest, Running, Scratch, SYNTH_SHARD};

#[test]
fn smoke_manifest_runs_then_is_fully_cached() {
    let scratch = Scratch::new();
    let manifest = repo_root().join("manifests/smoke.yaml");
    let manifest = manifest.to_str().unwrap();
    let store = scratch.path("store");
    let store = store.to_str().unwrap();
    // `snni predict` of ResNet-50 at 32×32×3 in `setting` from this store, with `extra`
    // options; in `lan` (`predict_lan` expects it to succeed).
    let predict_run = |setting: &str, extra: &[&str]| {
        let mut args = vec![
            "predict",
            "--store",
            store,
            "--network",
            "resnet50",
            "--input",
            "32x32x3",
            "--setting",
            setting,
        ];
        args.extend_from_slice(extra);
        scratch.run(&args)
    };
    let predict_lan_run = |extra: &[&str]| predict_run("lan", extra);
    let predict_lan = |extra: &[&str]| predict_lan_run(extra).expect_code(0);
    let first = scratch
        .run(&["run", manifest, "--store", store])
        .expect_code(0);
    // Every stage: synth to evaluate, then sequence_search and whole.
    assert!(first.stderr.contains("10 ran"), "{}", first.stderr);
    let second = scratch
        .run(&["run", manifest, "--store", store, "--json"])
        .expect_code(0);
    let events = second.events();
    let cached = events
        .iter()
        .filter(|e| e["event"] == "stage_cached")
        .count();
    assert_eq!(cached, 10, "{events:?}");
    assert!(events.iter().all(|e| e["event"] != "shard_finished"));
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "run_finished");
    assert_eq!(summary["ran"], 0);
    assert_eq!(summary["cached"], 10);
    let tables = scratch
        .run(&["tables", manifest, "--store", store])
        .expect_code(0);
    for setting in ["local", "lan"] {
        for title in [
            format!("Per-layer prediction, setting `{setting}`"),
            format!("Whole-network prediction, setting `{setting}` (networks of the split's `held_out` stages"),
            format!("Whole-network prediction, setting `{setting}` (held-out"),
        ] {
            assert!(tables.stdout.contains(&title), "{}", tables.stdout);
        }
    }
    for title in [
        "Chosen MLP hyperparameters",
        "Chosen sequence-model hyperparameters",
    ] {
        assert!(tables.stdout.contains(title), "{}", tables.stdout);
    }
    // SqueezeNet is the profiled reference network: every method predicts it.
    assert!(
        tables.stdout.contains("| squeezenet | client |"),
        "{}",
        tables.stdout
    );
    let report = scratch.path("store/report");
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    for plot in [
        "layers_local_protocol.svg",
        "networks_error_lan.svg",
        "breakdown_lan_server.svg",
    ] {
        assert!(report.join(plot).exists(), "{plot}");
        assert!(index.contains(plot), "{plot}");
    }

    // Each party × setting's recommended method, chosen on the validation networks, is
    // stored beside every method and marked in tables 9–10 ...
    let recommended = recommended_methods(store);
    for setting in ["local", "lan"] {
        for party in ["server", "client"] {
            let method = &recommended[&(party.to_string(), setting.to_string())];
            assert!(
                ["analytical", "protocol", "transfer", "mlp", "rnn"].contains(&method.as_str()),
                "{party}.{setting}: {method:?}"
            );
        }
    }
    let reference_table = tables
        .stdout
        .split("### ")
        .find(|t| t.starts_with("Whole-network prediction, setting `lan` (networks of the split's `held_out` stages"))
        .unwrap();
    assert!(
        reference_table.contains("Recommended (validation)"),
        "{reference_table}"
    );
    let server_lan = &recommended[&("server".to_string(), "lan".to_string())];
    let row = reference_table
        .lines()
        .find(|l| l.starts_with("| squeezenet | server |"))
        .unwrap();
    assert!(row.ends_with(&format!("| {server_lan} |")), "{row}");
    assert!(row.contains('*'), "the recommended error is marked: {row}");
    // ... and `snni predict` uses it unless told otherwise, saying so.
    let default = predict_lan(&["--json"]);
    let value: serde_json::Value = serde_json::from_str(&default.stdout).unwrap();
    // The models learned from this engine's measurements, and say so; no mismatch warning.
    let planned_with = value["planned_with_engine"].as_str().unwrap();
    assert!(!planned_with.is_empty(), "{value}");
    assert_eq!(
        value["models_engine"],
        serde_json::json!([planned_with]),
        "{value}"
    );
    assert!(
        !default.stderr.contains("measurements of engine"),
        "{}",
        default.stderr
    );
    assert!(
        value["method_choice"]
            .as_str()
            .unwrap()
            .starts_with("recommended, chosen on the validation networks"),
        "{value}"
    );
    for party in ["server", "client"] {
        let method = &recommended[&(party.to_string(), "lan".to_string())];
        assert_eq!(value["recommended"][party], method.as_str(), "{value}");
        assert!(
            value["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["party"] == party && r["method"] == method.as_str()),
            "{value}"
        );
    }
    let text = predict_lan(&[]);
    assert!(
        text.stdout.contains(&format!(
            "engine: planned with {planned_with}, models measured with {planned_with}"
        )),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("method: recommended, chosen on the validation networks: client "),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("* the party's recommended method"),
        "{}",
        text.stdout
    );

    // A network never run, in a setting the store has models for, by every method.
    let predict = predict_lan(&["--method", "all", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&predict.stdout).unwrap();
    let results = value["results"].as_array().unwrap();
    assert_eq!(results.len(), 2 * 5, "{value}");
    let layers = value["layers"].as_array().unwrap().len();
    assert!(layers > 100, "{layers}");
    for result in results {
        let method = result["method"].as_str().unwrap();
        match result["total_s"].as_f64() {
            Some(total) => assert!(total.is_finite() && total > 0.0, "{result}"),
            // Only a method that does not extrapolate may be left out, with its reasons.
            None => {
                assert!(["mlp", "rnn"].contains(&method), "{result}");
                assert!(
                    !result["excluded"].as_array().unwrap().is_empty(),
                    "{result}"
                );
            }
        }
        let layers_s = result["layers_s"].as_array().unwrap();
        assert_eq!(layers_s.len(), layers);
        assert!(
            layers_s.iter().all(|s| s.as_f64().unwrap() >= 0.0),
            "{result}"
        );
    }
    // WAN has no models here: transfer predicts it from Local and the link, and a WAN
    // prediction takes longer than a LAN one.
    let wan = predict_run("wan", &[]).expect_code(0);
    assert!(
        wan.stdout.contains("total (with overhead)"),
        "{}",
        wan.stdout
    );
    assert!(wan.stdout.contains("models from `local`"), "{}", wan.stdout);
    let json = |setting: &str| -> f64 {
        let out = predict_run(setting, &["--method", "transfer", "--json"]).expect_code(0);
        let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        value["results"][0]["total_s"].as_f64().unwrap()
    };
    assert!(json("wan") > json("bandwidth=7gbit,rtt=0.5ms"));
    // At 224x224 ResNet-50's layers are far outside the 32x32 training data: warnings.
    let far = scratch
        .run(&[
            "predict",
            "--store",
            store,
            "--network",
            "resnet50",
            "--setting",
            "lan",
            "--method",
            "protocol",
        ])
        .expect_code(0);
    assert!(
        far.stderr.contains("outside the training range"),
        "{}",
        far.stderr
    );
    // ResNet-50 at 224 is far from the smoke study's data; the MLP and the sequence model,
    // bounded residuals on the protocol prediction, are trusted there all the same: each
    // total is given and positive (plain models of either were left out with "does not
    // extrapolate"; a unit test of `checked` covers that path).
    let mlp = scratch
        .run(&[
            "predict",
            "--store",
            store,
            "--network",
            "resnet50",
            "--setting",
            "lan",
            "--method",
            "mlp,rnn,protocol",
            "--json",
        ])
        .expect_code(0);
    let value: serde_json::Value = serde_json::from_str(&mlp.stdout).unwrap();
    for result in value["results"].as_array().unwrap() {
        assert!(
            result["excluded"].as_array().unwrap().is_empty(),
            "{result}"
        );
        assert!(result["total_s"].as_f64().unwrap() > 0.0, "{result}");
    }
    let moon = [
        "predict",
        "--store",
        store,
        "--network",
        "resnet50",
        "--setting",
        "moon",
    ];
    refused(scratch.run(&moon), 2, "no models for setting `moon`");
    // Measured times unless the split says otherwise, so they cannot move to another speed.
    assert!(value["speed"].is_null(), "{value}");
    refused(
        predict_lan_run(&["--speed", "30"]),
        3,
        "did not set `speed: probe`",
    );

    // The same study with `speed: probe`: only the split and what learns from it re-run,
    // and `snni predict` says which machine speed its times are for.
    let smoke = std::fs::read_to_string(manifest).unwrap().replace(
        "      validation: 0.3\n",
        "      validation: 0.3\n      speed: probe\n",
    );
    assert!(
        smoke.contains("speed: probe"),
        "the smoke split changed shape"
    );
    let scaled = scratch.write("smoke-speed.yaml", &smoke);
    let scaled = scaled.to_str().unwrap();
    let rerun = scratch
        .run(&["run", scaled, "--store", store, "--json"])
        .expect_code(0);
    let summary = rerun.events().last().cloned().unwrap();
    assert_eq!(summary["cached"], 4, "{summary}");
    assert_eq!(summary["ran"], 6, "{summary}");
    let predicted = predict_lan(&[]);
    assert!(
        predicted
            .stdout
            .contains("machine speed: times at the training runs' median probe"),
        "{}",
        predicted.stdout
    );
    let json = predict_lan(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        json["speed"]["reference_he_per_s"].as_f64().unwrap() > 0.0,
        "{json}"
    );
    let beta = json["speed"]["beta"].as_f64().unwrap();
    assert!((0.0..=2.0).contains(&beta), "{json}");
    assert!(json["rescaled"].is_null(), "{json}");
    // `--speed N`: every time at a machine whose probe runs N, by (reference / N)^β.
    let reference = json["speed"]["reference_he_per_s"].as_f64().unwrap();
    let doubled = format!("{}", 2.0 * reference);
    let faster = predict_lan(&["--json", "--speed", &doubled]);
    let faster: serde_json::Value = serde_json::from_str(&faster.stdout).unwrap();
    let factor = faster["rescaled"]["factor"].as_f64().unwrap();
    assert!((factor - 0.5f64.powf(beta)).abs() < 1e-9, "{faster}");
    let times = |v: &serde_json::Value| -> Vec<f64> {
        let results = v["results"].as_array().unwrap().iter();
        results
            .flat_map(|r| {
                let layers = r["layers_s"].as_array().unwrap().iter();
                layers.chain(std::iter::once(&r["total_s"]))
            })
            .filter_map(serde_json::Value::as_f64)
            .collect()
    };
    let (slow, fast) = (times(&json), times(&faster));
    assert_eq!(slow.len(), fast.len());
    assert!(slow.iter().any(|&t| t > 0.0), "{json}");
    for (slow, fast) in slow.iter().zip(&fast) {
        assert!((fast - slow * factor).abs() <= 1e-9 * slow, "{slow} {fast}");
    }
    // `--speed probe` probes this machine first and says so.
    let probed = predict_lan(&["--speed", "probe", "--probe-seconds", "0.2"]);
    assert!(
        probed.stderr.contains("HE layers/s on this machine"),
        "{}",
        probed.stderr
    );
    assert!(
        probed
            .stdout
            .contains("rescaled to a machine whose probe runs"),
        "{}",
        probed.stdout
    );
    refused(
        predict_lan_run(&["--speed", "fast"]),
        2,
        "--speed takes `probe`",
    );
}

/// Checks that a command failed with `code`, saying `text` on stderr.
fn refused(run: common::Run, code: i32, text: &str) {
    assert_eq!(run.code, code, "{}", run.stderr);
    assert!(run.stderr.contains(text), "{}", run.stderr);
}

/// (party, setting) → the recommended method stored in the `whole` stage's `networks`
/// tables of the store at `store`; every row of a party × setting names the same one.
fn recommended_methods(store: &str) -> std::collections::BTreeMap<(String, String), String> {
    use snni_stages::schema::dataset::{PARTY, SETTING};
    use snni_stages::schema::results::RECOMMENDED_METHOD;
    use snni_stages::schema::TableReader;
    let store = snni_artifacts::Store::open_read_only(
        std::path::Path::new(store),
        snni_artifacts::OnLocked::Fail,
    )
    .unwrap();
    let state = store.stage_state("whole").unwrap().unwrap();
    let record = store.get(&state.fingerprint).unwrap().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for (name, output) in &record.outputs {
        let (true, snni_artifacts::Output::Table(table)) = (name.ends_with("/networks"), output)
        else {
            continue;
        };
        let frame = store.read_table(table).unwrap();
        let reader = TableReader::new(name, &frame);
        let (party, setting, method) = (
            reader.text(PARTY).unwrap(),
            reader.text(SETTING).unwrap(),
            reader.text(RECOMMENDED_METHOD).unwrap(),
        );
        for i in 0..party.len() {
            let previous = out.insert((party[i].clone(), setting[i].clone()), method[i].clone());
            assert!(
                previous.is_none_or(|p| p == method[i]),
                "{name}: two recommended methods"
            );
        }
    }
    out
}

#[test]
fn plan_explains_a_parameter_change_and_growth_keeps_shards() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(5));
    let manifest = manifest.to_str().unwrap();
    let before = scratch.run(&["plan", manifest]).expect_code(0);
    assert!(
        before.stdout.contains("will run (new)"),
        "{}",
        before.stdout
    );
    scratch.run(&["run", manifest]).expect_code(0);
    let cached = scratch.run(&["plan", manifest]).expect_code(0);
    assert!(
        cached.stdout.contains("nothing to run"),
        "{}",
        cached.stdout
    );

    scratch.write("study.yaml", &small_manifest(7));
    let changed = scratch.run(&["plan", manifest]).expect_code(0);
    assert!(
        changed.stdout.contains("params changed: count: 5 -> 7"),
        "{}",
        changed.stdout
    );
    assert!(
        changed.stdout.contains("resuming: 5 of 7 shards done"),
        "{}",
        changed.stdout
    );
    let json = scratch.run(&["plan", manifest, "--json"]).expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["stages"][0]["status"], "run");
    assert_eq!(plan["stages"][1]["status"], "cached");

    let grown = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let ran: Vec<_> = grown
        .events()
        .into_iter()
        .filter(|e| e["event"] == "shard_finished")
        .collect();
    assert_eq!(ran.len(), 2, "only the two new networks run");
}

#[test]
fn force_and_only_select_stages() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(3));
    let manifest = manifest.to_str().unwrap();
    scratch.run(&["run", manifest]).expect_code(0);
    let forced = scratch
        .run(&["run", manifest, "--force", "reference", "--json"])
        .expect_code(0);
    let events = forced.events();
    assert!(events
        .iter()
        .any(|e| e["event"] == "stage_started" && e["stage"] == "reference"));
    assert!(events
        .iter()
        .any(|e| e["event"] == "stage_cached" && e["stage"] == "synth"));
    let plan = scratch
        .run(&["plan", manifest, "--only", "synth"])
        .expect_code(0);
    assert!(plan.stdout.contains("not selected"), "{}", plan.stdout);
    let unknown = scratch
        .run(&["run", manifest, "--only", "synht"])
        .expect_code(2);
    assert!(
        unknown.stderr.contains("did you mean `synth`?"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn invalid_manifest_exits_3_with_positioned_errors() {
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "bad.yaml",
        "name: bad\nseed: 1\nstages:\n  synth:\n    kind: synthesise\n",
    );
    let run = scratch
        .run(&["run", manifest.to_str().unwrap()])
        .expect_code(3);
    assert!(
        run.stderr
            .contains("error[E005]: unknown stage kind `synthesise`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("bad.yaml:5:11"), "{}", run.stderr);
    let check = scratch
        .run(&["check", manifest.to_str().unwrap()])
        .expect_code(3);
    assert!(
        check.stderr.contains("did you mean `synthesize`?"),
        "{}",
        check.stderr
    );
}

#[test]
fn kill_9_mid_stage_then_resume_matches_an_uninterrupted_run() {
    let count = 4000;
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(count));
    let manifest = manifest.to_str().unwrap();
    let mut run = Running::start(&scratch, manifest);
    // Let a few more shards commit, then kill -9 in the middle of the stage.
    assert!(
        run.skip_events(SYNTH_SHARD, 20),
        "the run ended too early to be killed mid-stage"
    );
    run.kill();

    let resumed = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let started = resumed
        .events()
        .into_iter()
        .find(|e| e["event"] == "stage_started" && e["stage"] == "synth")
        .expect("synth resumes");
    let done_before = started["resumed"].as_u64().unwrap();
    assert!(
        done_before > 0 && done_before < count as u64,
        "resumed {done_before} of {count}"
    );

    // An uninterrupted run in another folder gives identical outputs.
    let clean = Scratch::new();
    let clean_manifest = clean.write("study.yaml", &small_manifest(count));
    clean
        .run(&["run", clean_manifest.to_str().unwrap()])
        .expect_code(0);
    for stage in ["synth", "reference"] {
        let a = snni_artifacts::Store::open(&scratch.path("store"), snni_artifacts::OnLocked::Fail)
            .unwrap();
        let b = snni_artifacts::Store::open(&clean.path("store"), snni_artifacts::OnLocked::Fail)
            .unwrap();
        let ra = a
            .get(&a.stage_state(stage).unwrap().unwrap().fingerprint)
            .unwrap()
            .unwrap();
        let rb = b
            .get(&b.stage_state(stage).unwrap().unwrap().fingerprint)
            .unwrap()
            .unwrap();
        assert_eq!(ra.fingerprint, rb.fingerprint);
        assert_eq!(ra.outputs, rb.outputs, "outputs of {stage} differ");
    }
}

#[test]
fn a_second_run_on_a_busy_store_fails_naming_the_other_process() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(3000));
    let manifest = manifest.to_str().unwrap();
    let mut first = Running::start(&scratch, manifest);
    let second = scratch.run(&["run", manifest]);
    let pid = first.child.id();
    first.kill();
    let second = second.expect_code(4);
    assert!(
        second.stderr.contains(&pid.to_string()),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("--wait"),
        "the message says how to wait: {}",
        second.stderr
    );
}

#[test]
fn readers_work_while_a_run_holds_the_store() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(3000));
    let manifest = manifest.to_str().unwrap();
    let mut first = Running::start(&scratch, manifest);
    assert!(first.skip_events(SYNTH_SHARD, 20), "the run ended early");
    let pid = first.child.id().to_string();
    let plan = scratch.run(&["plan", manifest]);
    let ls = scratch.run(&["artifacts", "ls", "--store", "store", "--shards"]);
    let second = scratch.run(&["run", manifest]);
    first.kill();
    for (what, out) in [("plan", &plan), ("artifacts ls", &ls)] {
        assert_eq!(
            out.code, 0,
            "{what} failed while a run held the store:\n{}\n{}",
            out.stdout, out.stderr
        );
        assert!(
            out.stderr.contains(&pid) && out.stderr.contains("reading a copy"),
            "{what} does not say it reads a copy of the running store: {}",
            out.stderr
        );
    }
    // What the run had committed is there: the plan finds synth shards cached.
    assert!(plan.stdout.contains("cached"), "{}", plan.stdout);
    // Writers still wait for the holder.
    second.expect_code(4);
}

#[test]
fn artifacts_ls_show_export_import_and_gc() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(4));
    let manifest = manifest.to_str().unwrap();
    scratch.run(&["run", manifest]).expect_code(0);
    let ls = scratch
        .run(&["artifacts", "ls", "--store", "store", "--shards"])
        .expect_code(0);
    assert!(ls.stdout.contains("synth[synth-0003]"), "{}", ls.stdout);
    let show = scratch
        .run(&[
            "artifacts",
            "show",
            "--store",
            "store",
            "synth/synth-0001/network",
        ])
        .expect_code(0);
    assert!(show.stdout.contains("name: synth-0001"), "{}", show.stdout);
    let missing = scratch
        .run(&[
            "artifacts",
            "show",
            "--store",
            "store",
            "synth/synth-0001/netwrk",
        ])
        .expect_code(6);
    assert!(
        missing.stderr.contains("did you mean"),
        "{}",
        missing.stderr
    );

    scratch
        .run(&["artifacts", "export", "--store", "store", "-o", "study.tar"])
        .expect_code(0);
    scratch
        .run(&["artifacts", "import", "--store", "copy", "study.tar"])
        .expect_code(0);
    let plan = scratch
        .run(&["plan", manifest, "--store", "copy"])
        .expect_code(0);
    assert!(
        plan.stdout.contains("nothing to run"),
        "a reviewer's imported store is fully cached:\n{}",
        plan.stdout
    );

    // Shrinking the study leaves two networks unreferenced; gc removes them and what the
    // manifest still references stays cached.
    scratch.write("study.yaml", &small_manifest(2));
    scratch.run(&["run", manifest]).expect_code(0);
    let gc = scratch.run(&["gc", manifest]).expect_code(0);
    assert!(gc.stdout.contains("freed"), "{}", gc.stdout);
    let plan = scratch.run(&["plan", manifest]).expect_code(0);
    assert!(plan.stdout.contains("nothing to run"), "{}", plan.stdout);
    let ls = scratch
        .run(&["artifacts", "ls", "--store", "store", "--shards"])
        .expect_code(0);
    assert!(!ls.stdout.contains("synth[synth-0003]"), "{}", ls.stdout);
}

#[test]
fn network_command_describes_reference_networks() {
    let scratch = Scratch::new();
    let run = scratch.run(&["network", "resnet50"]).expect_code(0);
    assert!(run.stdout.contains("25557032 parameters"), "{}", run.stdout);
    let bad = scratch.write(
        "net.yaml",
        "name: bad\ninput: {h: 8, w: 8, c: 3}\nlayers:\n  - {name: fc, kind: fc, units: 10}\n",
    );
    let run = scratch
        .run(&["network", bad.to_str().unwrap()])
        .expect_code(3);
    assert!(run.stderr.contains("fc"), "{}", run.stderr);
}

#[test]
fn wait_blocks_until_the_store_is_free() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(2000));
    let manifest = manifest.to_str().unwrap();
    let mut first = Running::start(&scratch, manifest);
    let second = scratch
        .run(&["run", manifest, "--wait", "--json"])
        .expect_code(0);
    // The first run finished while the second waited, so the second found everything cached
    // (or, if the first was slower, completed the rest itself): either way nothing is lost.
    assert!(
        first.skip_events("\"run_finished\"", 1),
        "the first run finished"
    );
    first.kill();
    let summary = second.events().pop().unwrap();
    assert_eq!(summary["event"], "run_finished");
    assert_eq!(summary["failed"], 0);
    let plan = scratch.run(&["plan", manifest]).expect_code(0);
    assert!(plan.stdout.contains("nothing to run"), "{}", plan.stdout);
}

#[test]
fn ctrl_c_stops_a_run_with_code_130_and_the_next_run_resumes() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &small_manifest(4000));
    let manifest = manifest.to_str().unwrap();
    let mut run = Running::start(&scratch, manifest);
    let status = std::process::Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -INT failed");
    let code = run.child.wait().unwrap().code();
    assert_eq!(code, Some(130), "exit code after Ctrl-C");
    let resumed = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let started = resumed
        .events()
        .into_iter()
        .find(|e| e["event"] == "stage_started" && e["stage"] == "synth");
    // Ctrl-C came after a synth shard was committed, so the stage resumes.
    let started = started.expect("synth resumes");
    assert!(
        started["resumed"].as_u64().unwrap() > 0,
        "finished shards were kept: {started}"
    );
}
