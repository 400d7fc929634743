//! `snni predict`: a network's predicted secure-inference time, per layer and per party,
//! from the trained models in a store. The network is planned by the engine (never run);
//! layers the models cannot cover are named in warnings.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use snni_stages::{Method, PlannedLink, Predictor, Setting};

use super::network::load_valid_network;
use super::{open_for_reading, store_dir, CommandError, CommandResult};
use crate::cli::PredictArgs;
use crate::exit_codes;
use crate::manifest::units::{parse_bandwidth, parse_duration_us};

/// Which models predict, and for which link.
struct Target {
    /// The trained setting whose models are used.
    models: String,
    /// The link to predict for.
    link: PlannedLink,
    /// Only `transfer` can predict a link the models were not trained on.
    transfer_only: bool,
}

fn usage(message: String) -> CommandError {
    CommandError::new(exit_codes::USAGE, message).help(
        "--setting takes a trained setting (local, lan, wan, …) or bandwidth=380mbit,rtt=10ms",
    )
}

/// A `bandwidth=…,rtt=…` link.
fn parse_link(text: &str) -> Result<Setting, CommandError> {
    let mut setting = Setting::default();
    for part in text.split(',') {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| usage(format!("`{part}` is not key=value")))?;
        match key.trim() {
            "bandwidth" => setting.bandwidth_bps = Some(parse_bandwidth(value).map_err(usage)?),
            "rtt" => setting.rtt_us = Some(parse_duration_us(value).map_err(usage)?),
            other => return Err(usage(format!("unknown link field `{other}`"))),
        }
    }
    Ok(setting)
}

fn target(store: &snni_artifacts::Store, spec: &str) -> Result<Target, CommandError> {
    let trained = Predictor::trained_settings(store).map_err(stage_error)?;
    if trained.iter().any(|s| s == spec) {
        return Ok(Target {
            models: spec.into(),
            link: PlannedLink {
                setting: spec.into(),
                bandwidth_bps: None,
                rtt_us: None,
                ell: 0,
                scale: 0,
                ot: Default::default(),
            },
            transfer_only: false,
        });
    }
    if trained.is_empty() {
        return Err(CommandError::new(
            exit_codes::MISSING_INPUT,
            "the store's `whole` stage holds no models for any setting",
        )
        .help(
            "its study had too little data for it: run the study again (`snni run MANIFEST`) and read why `whole` fails",
        ));
    }
    let link = if spec.contains('=') {
        parse_link(spec)?
    } else {
        Setting::builtin(spec).ok_or_else(|| {
            usage(format!(
                "the store has no models for setting `{spec}` (it has: {})",
                trained.join(", ")
            ))
        })?
    };
    // An unseen link: the unshaped setting's counts model plus the link's terms.
    let local = trained.iter().find(|s| *s == "local").cloned();
    let models = local.ok_or_else(|| {
        CommandError::new(
            exit_codes::MISSING_INPUT,
            format!("no models for `{spec}`, and no unshaped `local` models to transfer from"),
        )
    })?;
    Ok(Target {
        models: models.clone(),
        link: PlannedLink {
            setting: models,
            bandwidth_bps: link.bandwidth_bps,
            rtt_us: link.rtt_us,
            ell: 0,
            scale: 0,
            ot: Default::default(),
        },
        transfer_only: true,
    })
}

fn stage_error(err: snni_stages::StageError) -> CommandError {
    CommandError::new(exit_codes::MISSING_INPUT, snni_stages::error_chain(&err)).help(
        "train the models first: a study with train and whole stages (see manifests/smoke.yaml)",
    )
}

/// `snni predict`.
pub fn predict(args: PredictArgs) -> CommandResult {
    let (network, _) = load_valid_network(&args.network, &args.input)?;
    let store = open_for_reading(&store_dir(&args.store))?;
    let target = target(&store, &args.setting)?;
    let started = std::time::Instant::now();
    let predictor = Predictor::load(&store, &target.models).map_err(stage_error)?;
    let load_s = started.elapsed().as_secs_f64();
    let mut link = predictor.trained_link();
    if target.transfer_only {
        link.bandwidth_bps = target.link.bandwidth_bps;
        link.rtt_us = target.link.rtt_us;
    }
    // An untrained link has only `transfer`: the trained setting's choice does not apply.
    let recommended = if target.transfer_only {
        BTreeMap::new()
    } else {
        predictor.recommended()
    };
    let (methods, choice) = choose_methods(&args, &target, &recommended)?;
    let speed = args
        .speed
        .as_deref()
        .map(|spec| machine_speed(spec, args.probe_seconds))
        .transpose()?;
    let mut prediction = predictor
        .predict(&network, &link, &methods)
        .map_err(|e| CommandError::new(exit_codes::INVALID_INPUT, snni_stages::error_chain(&e)))?;
    if let Some(he_per_s) = speed {
        prediction.at_speed(he_per_s).map_err(|e| {
            CommandError::new(exit_codes::INVALID_INPUT, snni_stages::error_chain(&e)).help(
                "leave out --speed, or train the models from a study whose split sets \
                 `speed: probe` (manifests/mid.yaml does)",
            )
        })?;
    }
    for warning in &prediction.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        let mut value = serde_json::to_value(&prediction).unwrap_or_default();
        value["load_seconds"] = serde_json::json!(load_s);
        value["method_choice"] = serde_json::json!(choice);
        value["recommended"] = serde_json::json!(recommended
            .iter()
            .map(|(party, m)| (party.clone(), m.name()))
            .collect::<std::collections::BTreeMap<_, _>>());
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(exit_codes::SUCCESS);
    }
    print!(
        "{}",
        render(
            &prediction,
            &methods,
            &Shown {
                setting: &args.setting,
                choice: &choice,
                recommended: &recommended,
            },
            load_s
        )
    );
    Ok(exit_codes::SUCCESS)
}

/// The machine speed `--speed` names, in HE layers per second: the probe run here for
/// `probe_seconds`, or the number given.
fn machine_speed(spec: &str, probe_seconds: f64) -> Result<f64, CommandError> {
    let speed_usage = |message: String| {
        CommandError::new(exit_codes::USAGE, message).help(
            "--speed takes `probe` (run the machine-speed probe here) or a probe's HE layers \
             per second, e.g. --speed 35.2",
        )
    };
    if spec != "probe" {
        return spec
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| speed_usage(format!("`{spec}` is not a positive number or `probe`")));
    }
    if !(probe_seconds > 0.0 && probe_seconds <= 60.0) {
        return Err(speed_usage(format!(
            "--probe-seconds must be in (0, 60], got {probe_seconds}"
        )));
    }
    let probe = snni_stages::SpeedProbe::run(std::time::Duration::from_secs_f64(probe_seconds))
        .map_err(|e| {
            CommandError::new(
                exit_codes::STAGE_FAILED,
                format!("the machine-speed probe failed: {e}"),
            )
        })?;
    eprintln!(
        "probe: {:.1} HE layers/s on this machine ({:.1} s)",
        probe.he_per_s, probe.seconds
    );
    Ok(probe.he_per_s)
}

/// The methods to predict with, and a sentence saying why: the explicit `--method` list
/// (`all` for every method), else each party's method recommended on the validation
/// networks, else (models stored before the choice) every method.
fn choose_methods(
    args: &PredictArgs,
    target: &Target,
    recommended: &BTreeMap<String, Method>,
) -> Result<(Vec<Method>, String), CommandError> {
    if target.transfer_only {
        if args.method.iter().any(|m| m != Method::Transfer.name()) {
            return Err(usage(format!(
                "only `transfer` predicts `{}`: the store has no models trained on it",
                args.setting
            )));
        }
        return Ok((
            vec![Method::Transfer],
            format!(
                "transfer (the only method for `{}`: no models were trained on it)",
                args.setting
            ),
        ));
    }
    if args.method.iter().any(|m| m == "all") {
        return Ok((
            Method::NETWORK.to_vec(),
            "every method (--method all)".into(),
        ));
    }
    if !args.method.is_empty() {
        let methods: Vec<Method> = args
            .method
            .iter()
            .map(|m| m.parse::<Method>())
            .collect::<Result<_, _>>()
            .map_err(|err| usage(format!("{err}, or all")))?;
        let why = format!("{} (--method)", Method::names(&methods));
        return Ok((methods, why));
    }
    if recommended.is_empty() {
        return Ok((
            Method::NETWORK.to_vec(),
            "every method: the store's models predate the recommended method (re-run the \
             study's `whole` stage to choose one)"
                .into(),
        ));
    }
    let methods: Vec<Method> = Method::NETWORK
        .into_iter()
        .filter(|m| recommended.values().any(|r| r == m))
        .collect();
    let per_party: Vec<String> = recommended
        .iter()
        .map(|(party, m)| format!("{party} {m}"))
        .collect();
    Ok((
        methods,
        format!(
            "recommended, chosen on the validation networks: {} (--method to choose)",
            per_party.join(", ")
        ),
    ))
}

/// What the text output says besides the prediction.
struct Shown<'a> {
    setting: &'a str,
    choice: &'a str,
    recommended: &'a BTreeMap<String, Method>,
}

fn render(p: &snni_stages::Prediction, methods: &[Method], shown: &Shown, load_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} in `{}` (models from `{}`; link {} bit/s, rtt {} µs); times in ms",
        p.network, shown.setting, p.models_from, p.bandwidth_bps, p.rtt_us
    );
    let _ = writeln!(out, "method: {}", shown.choice);
    let measured_by = if p.models_engine.is_empty() {
        "not recorded".to_string()
    } else {
        p.models_engine.join(", ")
    };
    let _ = writeln!(
        out,
        "engine: planned with {}, models measured with {measured_by}",
        p.planned_with_engine
    );
    if let Some(speed) = p.speed {
        let _ = writeln!(
            out,
            "machine speed: times at the training runs' median probe, {:.1} HE layers/s \
             (the split's `speed: probe`); a machine whose probe runs p takes ({:.1} / p)^{:.2} \
             times as long",
            speed.reference_he_per_s, speed.reference_he_per_s, speed.beta
        );
    }
    if let Some(at) = p.rescaled {
        let _ = writeln!(
            out,
            "rescaled to a machine whose probe runs {:.1} HE layers/s (--speed): every time × {:.3}",
            at.he_per_s, at.factor
        );
    }
    let mut header = vec![
        "#".to_string(),
        "layer".into(),
        "kind".into(),
        "output".into(),
    ];
    for m in methods {
        header.push(format!("{m} server"));
        header.push(format!("{m} client"));
    }
    let _ = writeln!(out, "{}", header.join("\t"));
    let result = |party: &str, method: &Method| {
        p.results
            .iter()
            .find(|r| r.party == party && r.method == method.name())
    };
    for (i, layer) in p.layers.iter().enumerate() {
        let mut row = vec![
            i.to_string(),
            layer.name.clone(),
            layer.kind.clone(),
            layer.output.clone(),
        ];
        for m in methods {
            for party in ["server", "client"] {
                let ms = result(party, m).map_or(f64::NAN, |r| r.layers_s[i] * 1e3);
                row.push(format!("{ms:.3}"));
            }
        }
        let _ = writeln!(out, "{}", row.join("\t"));
    }
    let mut total = vec![
        "".to_string(),
        "total (with overhead)".into(),
        "".into(),
        "".into(),
    ];
    let mut marked = false;
    for m in methods {
        for party in ["server", "client"] {
            let mark = if shown.recommended.get(party) == Some(m) {
                marked = true;
                "*"
            } else {
                ""
            };
            total.push(match result(party, m).and_then(|r| r.total_s) {
                Some(seconds) => format!("{:.1}{mark}", seconds * 1e3),
                None => format!("excluded{mark}"),
            });
        }
    }
    let _ = writeln!(out, "{}", total.join("\t"));
    if marked {
        let _ = writeln!(
            out,
            "* the party's recommended method (least mean error on the validation networks)"
        );
    }
    for r in p.results.iter().filter(|r| !r.excluded.is_empty()) {
        let more = match r.excluded.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        let _ = writeln!(
            out,
            "excluded: {} {} total: {}{more}",
            r.method, r.party, r.excluded[0]
        );
    }
    let timing: Vec<String> = p
        .predict_seconds
        .iter()
        .map(|(m, s)| format!("{m} {:.3} ms", s * 1e3))
        .collect();
    let _ = writeln!(
        out,
        "models loaded in {:.1} ms; prediction (both parties): {}",
        load_s * 1e3,
        timing.join(", ")
    );
    out
}
