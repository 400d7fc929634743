//! The hyperparameter search space of the neural predictors, sampled like Keras Tuner's
//! `RandomSearch`: integer ranges with a step, (log-)uniform floats and choices.
//!
//! A space is parsed from the manifest's JSON by hand (no `untagged`, unknown keys
//! rejected, every issue reported with its key path). Trial `i` of a seed is the `i`-th
//! distinct draw of one ChaCha8 stream, so a stored trial can be recomputed alone and an
//! interrupted search resumes where it stopped.

use std::collections::{BTreeMap, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ParamIssue;

/// Activations a trial may name.
pub const ACTIVATIONS: &[&str] = &["relu", "tanh", "gelu", "sigmoid"];
/// Consecutive duplicate draws after which the space counts as exhausted.
const GIVE_UP_AFTER: u32 = 100;
/// The parameter names with a meaning of their own; any other name goes to `extra`.
const KNOWN: &[&str] = &[
    "layers",
    "units",
    "learning_rate",
    "batch_size",
    "activation",
];

/// How one hyperparameter is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// `min + step·k` for a uniform `k` in `0..=(max − min)/step`.
    Int {
        /// Smallest value.
        min: i64,
        /// Largest value (reached when `max − min` is a multiple of `step`).
        max: i64,
        /// Distance between values, at least 1.
        step: i64,
    },
    /// Uniform in `[min, max]`, or `exp(uniform(ln min, ln max))` when `log`.
    Float {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
        /// Log-uniform sampling (needs `min > 0`).
        log: bool,
    },
    /// One of the listed values, uniformly.
    Choice(Vec<Value>),
}

/// A random search: the parameters to draw and the budget of the search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    /// Every parameter by name; the recognised ones are always present.
    pub params: BTreeMap<String, Param>,
    /// Number of trials.
    pub max_trials: u32,
    /// Trainings per trial (their validation losses are averaged).
    pub executions_per_trial: u32,
    /// Epoch limit of one training.
    pub max_epochs: u32,
    /// Epochs without validation improvement before early stopping.
    pub patience: u32,
}

/// Sampled values of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparams {
    /// Width of each hidden layer (one `units` draw per layer; length = `layers`).
    pub hidden: Vec<usize>,
    /// Learning rate of the optimiser.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Activation of the hidden layers, one of [`ACTIVATIONS`].
    pub activation: String,
    /// Values of the parameters with no meaning of their own, by name.
    pub extra: BTreeMap<String, Value>,
}

impl SearchSpace {
    /// Parses and validates; errors carry the key path (below the search's mapping) and
    /// every issue found is reported.
    pub fn from_value(value: &serde_json::Value) -> Result<SearchSpace, Vec<ParamIssue>> {
        let mut issues = Vec::new();
        let mut space = SearchSpace::study_default();
        let Some(map) = value.as_object() else {
            return Err(vec![issue(&[], "must be a mapping")]);
        };
        for (key, item) in map {
            let path = [key.clone()];
            match key.as_str() {
                "space" => parse_params(item, &mut space.params, &mut issues),
                "max_trials" => count(item, &path, 1, 10_000, &mut space.max_trials, &mut issues),
                "executions_per_trial" => count(
                    item,
                    &path,
                    1,
                    100,
                    &mut space.executions_per_trial,
                    &mut issues,
                ),
                "max_epochs" => count(item, &path, 1, u32::MAX, &mut space.max_epochs, &mut issues),
                "patience" => count(item, &path, 0, u32::MAX, &mut space.patience, &mut issues),
                _ => issues.push(issue(&path, "unknown key").with_hint(
                    "expected space, max_trials, executions_per_trial, max_epochs or patience",
                )),
            }
        }
        if issues.is_empty() {
            Ok(space)
        } else {
            Err(issues)
        }
    }

    /// Canonical form (defaults filled) for fingerprints; `from_value(to_value(x)) == x`.
    pub fn to_value(&self) -> serde_json::Value {
        let params: Map<String, Value> = self
            .params
            .iter()
            .map(|(name, p)| (name.clone(), p.to_value()))
            .collect();
        json!({
            "space": params,
            "max_trials": self.max_trials,
            "executions_per_trial": self.executions_per_trial,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
        })
    }

    /// The default space of the study (tables 1–3): layers int 1..4, units int 16..256
    /// step 16, learning_rate float 1e-4..1e-2 log, batch_size choice [32, 64, 128],
    /// activation choice [relu, tanh]; max_trials 20, executions 1, max_epochs 200,
    /// patience 10.
    pub fn study_default() -> SearchSpace {
        let params = BTreeMap::from([
            (
                "layers".to_string(),
                Param::Int {
                    min: 1,
                    max: 4,
                    step: 1,
                },
            ),
            (
                "units".to_string(),
                Param::Int {
                    min: 16,
                    max: 256,
                    step: 16,
                },
            ),
            (
                "learning_rate".to_string(),
                Param::Float {
                    min: 1e-4,
                    max: 1e-2,
                    log: true,
                },
            ),
            (
                "batch_size".to_string(),
                Param::Choice(vec![json!(32), json!(64), json!(128)]),
            ),
            (
                "activation".to_string(),
                Param::Choice(vec![json!("relu"), json!("tanh")]),
            ),
        ]);
        SearchSpace {
            params,
            max_trials: 20,
            executions_per_trial: 1,
            max_epochs: 200,
            patience: 10,
        }
    }

    /// The hyperparameters of trial `index` (0-based): the index-th distinct draw of a
    /// ChaCha8 stream seeded by `seed` (duplicates of earlier draws are skipped, as Keras
    /// Tuner does); None when the space has fewer distinct points than index+1 (given up
    /// after 100 consecutive duplicates). Deterministic and independent of which other
    /// trials exist; `max_trials` is not consulted.
    pub fn trial(&self, seed: u64, index: u32) -> Option<Hyperparams> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut seen = HashSet::new();
        let mut duplicates = 0;
        loop {
            let draw = self.sample(&mut rng);
            let key = serde_json::to_string(&draw).expect("hyperparameters serialise");
            if seen.insert(key) {
                if seen.len() > index as usize {
                    return Some(draw);
                }
                duplicates = 0;
            } else {
                duplicates += 1;
                if duplicates >= GIVE_UP_AFTER {
                    return None;
                }
            }
        }
    }

    /// One draw: layers, then one width per layer, then learning rate, batch size,
    /// activation and the extra parameters by name.
    fn sample(&self, rng: &mut ChaCha8Rng) -> Hyperparams {
        let defaults = SearchSpace::study_default();
        let param = |name: &str| {
            self.params
                .get(name)
                .cloned()
                .unwrap_or_else(|| defaults.params[name].clone())
        };
        let layers = param("layers").sample(rng).as_u64().unwrap_or(1) as usize;
        let units = param("units");
        let hidden = (0..layers)
            .map(|_| units.sample(rng).as_u64().unwrap_or(1) as usize)
            .collect();
        let learning_rate = param("learning_rate").sample(rng).as_f64().unwrap_or(1e-3);
        let batch_size = param("batch_size").sample(rng).as_u64().unwrap_or(32) as usize;
        let activation = match param("activation").sample(rng) {
            Value::String(name) => name,
            _ => "relu".to_string(),
        };
        let extra = self
            .params
            .iter()
            .filter(|(name, _)| !KNOWN.contains(&name.as_str()))
            .map(|(name, p)| (name.clone(), p.sample(rng)))
            .collect();
        Hyperparams {
            hidden,
            learning_rate,
            batch_size,
            activation,
            extra,
        }
    }
}

impl Param {
    /// Parses `{int: [min, max], step}`, `{float: [min, max], log}` or `{choice: [..]}`.
    fn parse(value: &Value, path: &[String], issues: &mut Vec<ParamIssue>) -> Option<Param> {
        let hint =
            "write {int: [min, max], step: s}, {float: [min, max], log: true} or {choice: [..]}";
        let Some(map) = value.as_object() else {
            issues.push(issue(path, "must be a mapping").with_hint(hint));
            return None;
        };
        let kinds: Vec<&str> = ["int", "float", "choice"]
            .into_iter()
            .filter(|k| map.contains_key(*k))
            .collect();
        let [kind] = kinds[..] else {
            issues
                .push(issue(path, "must have exactly one of int, float or choice").with_hint(hint));
            return None;
        };
        let before = issues.len();
        for key in map.keys() {
            let allowed = key == kind
                || (kind, key.as_str()) == ("int", "step")
                || (kind, key.as_str()) == ("float", "log");
            if !allowed {
                issues.push(
                    issue(
                        &at(path, key),
                        format!("unknown key for a {kind} parameter"),
                    )
                    .with_hint(hint),
                );
            }
        }
        let bounds = &at(path, kind);
        let param = match kind {
            "int" => {
                let pair = map[kind].as_array().filter(|a| a.len() == 2);
                let pair = pair.and_then(|a| Some((a[0].as_i64()?, a[1].as_i64()?)));
                let Some((min, max)) = pair else {
                    issues.push(issue(bounds, "must be [min, max] with integer bounds"));
                    return None;
                };
                let step = match map.get("step") {
                    None => 1,
                    Some(v) => v.as_i64().filter(|s| *s >= 1).unwrap_or_else(|| {
                        issues.push(issue(&at(path, "step"), "must be an integer of at least 1"));
                        1
                    }),
                };
                Param::Int { min, max, step }
            }
            "float" => {
                let pair = map[kind].as_array().filter(|a| a.len() == 2);
                let pair = pair.and_then(|a| Some((a[0].as_f64()?, a[1].as_f64()?)));
                let Some((min, max)) = pair else {
                    issues.push(issue(bounds, "must be [min, max] with number bounds"));
                    return None;
                };
                let log = match map.get("log") {
                    None => false,
                    Some(v) => v.as_bool().unwrap_or_else(|| {
                        issues.push(issue(&at(path, "log"), "must be true or false"));
                        false
                    }),
                };
                if log && min <= 0.0 {
                    issues.push(
                        issue(
                            bounds,
                            format!("log sampling needs a positive minimum, not {min}"),
                        )
                        .with_hint("use log: false or a minimum above 0"),
                    );
                }
                Param::Float { min, max, log }
            }
            _ => match map[kind].as_array() {
                Some(items) if !items.is_empty() => Param::Choice(items.clone()),
                _ => {
                    issues.push(issue(bounds, "must be a non-empty list"));
                    return None;
                }
            },
        };
        let disordered = match &param {
            Param::Int { min, max, .. } => (min > max).then(|| format!("{min} > {max}")),
            Param::Float { min, max, .. } => (min > max).then(|| format!("{min} > {max}")),
            Param::Choice(_) => None,
        };
        if let Some(pair) = disordered {
            issues.push(issue(bounds, format!("minimum exceeds maximum ({pair})")));
        }
        (issues.len() == before).then_some(param)
    }

    fn to_value(&self) -> Value {
        match self {
            Param::Int { min, max, step } => json!({ "int": [min, max], "step": step }),
            Param::Float { min, max, log } => json!({ "float": [min, max], "log": log }),
            Param::Choice(items) => json!({ "choice": items }),
        }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Value {
        match self {
            Param::Int { min, max, step } => {
                let steps = (max.saturating_sub(*min) / step.max(&1)).max(0);
                json!(min + step * rng.random_range(0..=steps))
            }
            Param::Float { min, max, log } => {
                let u: f64 = rng.random();
                if *log {
                    let (lo, hi) = (min.ln(), max.ln());
                    json!((lo + u * (hi - lo)).exp())
                } else {
                    json!(min + u * (max - min))
                }
            }
            Param::Choice(items) => items[rng.random_range(0..items.len())].clone(),
        }
    }

    /// Every value this parameter can take satisfies `ok` (checked on the bounds of a
    /// range, on each item of a choice).
    fn all_values(&self, ok: impl Fn(&Value) -> bool) -> bool {
        match self {
            Param::Int { min, max, .. } => ok(&json!(min)) && ok(&json!(max)),
            Param::Float { min, max, .. } => ok(&json!(min)) && ok(&json!(max)),
            Param::Choice(items) => items.iter().all(ok),
        }
    }
}

/// Parses the `space` mapping into `params` (which holds the defaults), then checks the
/// recognised names.
fn parse_params(value: &Value, params: &mut BTreeMap<String, Param>, issues: &mut Vec<ParamIssue>) {
    let Some(map) = value.as_object() else {
        issues.push(issue(
            &["space".to_string()],
            "must be a mapping of parameter names",
        ));
        return;
    };
    for (name, item) in map {
        let path = vec!["space".to_string(), name.clone()];
        let Some(param) = Param::parse(item, &path, issues) else {
            continue;
        };
        let positive_int = |v: &Value| v.as_u64().is_some_and(|n| n >= 1);
        let fits = match name.as_str() {
            "layers" | "units" | "batch_size" => (!matches!(param, Param::Float { .. })
                && param.all_values(positive_int))
            .then_some(())
            .ok_or("must be positive integers (an int range or a choice)"),
            "learning_rate" => (!matches!(param, Param::Int { .. })
                && param.all_values(|v| v.as_f64().is_some_and(|x| x > 0.0)))
            .then_some(())
            .ok_or("must be positive numbers (a float range or a choice)"),
            "activation" => (matches!(param, Param::Choice(_))
                && param.all_values(|v| v.as_str().is_some_and(|a| ACTIVATIONS.contains(&a))))
            .then_some(())
            .ok_or("must be a choice among relu, tanh, gelu and sigmoid"),
            _ => Ok(()),
        };
        match fits {
            Ok(()) => {
                params.insert(name.clone(), param);
            }
            Err(message) => issues.push(issue(&path, message)),
        }
    }
}

/// Reads a count in `min..=max` into `slot`.
fn count(
    value: &Value,
    path: &[String],
    min: u32,
    max: u32,
    slot: &mut u32,
    issues: &mut Vec<ParamIssue>,
) {
    match value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
    {
        Some(n) => *slot = n,
        None => issues.push(issue(
            path,
            format!("must be an integer from {min} to {max}"),
        )),
    }
}

fn at(path: &[String], key: &str) -> Vec<String> {
    let mut path = path.to_vec();
    path.push(key.to_string());
    path
}

fn issue(path: &[String], message: impl Into<String>) -> ParamIssue {
    ParamIssue {
        path: path.to_vec(),
        message: message.into(),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study_json() -> Value {
        json!({
            "space": {
                "layers": {"int": [1, 4], "step": 1},
                "units": {"int": [16, 256], "step": 16},
                "learning_rate": {"float": [0.0001, 0.01], "log": true},
                "batch_size": {"choice": [32, 64, 128]},
                "activation": {"choice": ["relu", "tanh"]},
            },
            "max_trials": 20,
            "executions_per_trial": 1,
            "max_epochs": 200,
            "patience": 10,
        })
    }

    #[test]
    fn parses_the_study_space_and_round_trips() {
        let space = SearchSpace::from_value(&study_json()).unwrap();
        assert_eq!(space, SearchSpace::study_default());
        assert_eq!(SearchSpace::from_value(&space.to_value()).unwrap(), space);
    }

    #[test]
    fn missing_names_take_defaults_and_others_go_to_extra() {
        let value = json!({"space": {"dropout": {"float": [0.0, 0.5]}}, "max_trials": 5});
        let space = SearchSpace::from_value(&value).unwrap();
        assert_eq!(space.max_trials, 5);
        assert_eq!(
            space.params["units"],
            SearchSpace::study_default().params["units"]
        );
        assert_eq!(SearchSpace::from_value(&space.to_value()).unwrap(), space);
        let trial = space.trial(1, 0).unwrap();
        let dropout = trial.extra["dropout"].as_f64().unwrap();
        assert!((0.0..=0.5).contains(&dropout));
    }

    #[test]
    fn trials_are_deterministic_and_independent() {
        let space = SearchSpace::study_default();
        let alone = space.trial(42, 7);
        let all: Vec<_> = (0..8).map(|i| space.trial(42, i)).collect();
        assert_eq!(alone, all[7]);
        assert_eq!(space.trial(42, 7), alone);
        assert_ne!(space.trial(43, 7), alone);
    }

    #[test]
    fn twenty_trials_are_distinct_and_in_range() {
        let space = SearchSpace::study_default();
        let trials: Vec<Hyperparams> = (0..20).map(|i| space.trial(7, i).unwrap()).collect();
        for (i, a) in trials.iter().enumerate() {
            assert!(trials[..i].iter().all(|b| b != a), "trial {i} repeats");
            assert!((1..=4).contains(&a.hidden.len()));
            assert!(a
                .hidden
                .iter()
                .all(|w| (16..=256).contains(w) && w % 16 == 0));
            assert!((1e-4..=1e-2).contains(&a.learning_rate));
            assert!([32, 64, 128].contains(&a.batch_size));
            assert!(["relu", "tanh"].contains(&a.activation.as_str()));
        }
    }

    #[test]
    fn tiny_space_is_exhausted() {
        let value = json!({"space": {
            "layers": {"int": [1, 1]},
            "units": {"int": [16, 16], "step": 16},
            "learning_rate": {"float": [0.001, 0.001]},
            "batch_size": {"choice": [32]},
            "activation": {"choice": ["relu", "tanh"]},
        }});
        let space = SearchSpace::from_value(&value).unwrap();
        let first = space.trial(3, 0).unwrap();
        let second = space.trial(3, 1).unwrap();
        assert_ne!(first.activation, second.activation);
        assert_eq!(first.hidden, vec![16]);
        assert_eq!(first.learning_rate, 0.001);
        assert_eq!(space.trial(3, 2), None);
    }

    #[test]
    fn widths_are_drawn_per_layer() {
        let space = SearchSpace::study_default();
        let mixed = (0..20)
            .filter_map(|i| space.trial(11, i))
            .any(|t| t.hidden.windows(2).any(|w| w[0] != w[1]));
        assert!(mixed);
    }

    #[test]
    fn learning_rate_is_log_uniform() {
        let space = SearchSpace::study_default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut rates: Vec<f64> = (0..2001)
            .map(|_| space.sample(&mut rng).learning_rate)
            .collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[1000];
        assert!((7e-4..1.4e-3).contains(&median), "median {median}");
    }

    #[test]
    fn errors_point_at_the_key() {
        let mut value = study_json();
        value["space"]["units"]["step"] = json!(0);
        let issues = SearchSpace::from_value(&value).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, ["space", "units", "step"]);
    }

    #[test]
    fn every_error_is_reported() {
        let value = json!({
            "space": {
                "layers": {"int": [4, 1]},
                "learning_rate": {"float": [0.0, 0.01], "log": true},
                "batch_size": {"choice": [32, 0]},
                "activation": {"choice": ["relu", "swish"]},
                "units": {"choice": []},
                "dropout": {"float": [0.0, 0.5], "step": 1},
                "width": {"int": [1, 2], "choice": [1]},
            },
            "max_trials": 0,
            "seed": 1,
        });
        let issues = SearchSpace::from_value(&value).unwrap_err();
        let paths: Vec<String> = issues.iter().map(|i| i.path.join(".")).collect();
        for expected in [
            "space.layers.int",
            "space.learning_rate.float",
            "space.batch_size",
            "space.activation",
            "space.units.choice",
            "space.dropout.step",
            "space.width",
            "max_trials",
            "seed",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} not in {paths:?}"
            );
        }
    }
}
