//! The hyperparameter search space of the neural predictors, sampled like Keras Tuner's
//! `RandomSearch`: integer ranges with a step, (log-)uniform floats and choices.
//!
//! A space is a serde type: the manifest's form (every parameter as [`RawParam`], decoded
//! by serde with unknown keys and wrong types rejected at their key path) is checked once
//! by [`SearchSpace::check`], which reports every issue with its key path; the checked
//! [`SearchSpace`] serialises to the canonical JSON of the stages that search. Trial `i`
//! of a seed is the `i`-th distinct draw of one ChaCha8 stream, so a stored trial can be
//! recomputed alone and an interrupted search resumes where it stopped.

use std::collections::{BTreeMap, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ParamIssue;

/// Activations a trial may name.
pub const ACTIVATIONS: &[&str] = &["relu", "tanh", "gelu", "sigmoid"];
/// The most trials a search may ask for per group (`max_trials`).
pub const MAX_TRIALS: i64 = 10_000;
/// The most trainings a trial may average (`executions_per_trial`).
pub const MAX_EXECUTIONS: i64 = 100;
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
/// How to write a parameter, for hints.
const PARAM_FORMS: &str =
    "write {int: [min, max], step: s}, {float: [min, max], log: true} or {choice: [..]}";

/// How one hyperparameter is drawn. Serialised as [`RawParam`] with every field of its
/// form present (`{int: [min, max], step}`, `{float: [min, max], log}`, `{choice: [..]}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawParam", into = "RawParam")]
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

/// A parameter as a manifest writes it: exactly one of `int`, `float` and `choice`, with
/// `step` beside `int` and `log` beside `float`. [`Param::check`] makes it a [`Param`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    /// `[min, max]` of an integer range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int: Option<Vec<i64>>,
    /// The step of an integer range (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    /// `[min, max]` of a float range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<Vec<f64>>,
    /// Log-uniform sampling of a float range (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<bool>,
    /// The values of a choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Vec<Value>>,
}

/// The parameters a random search draws, by name (the recognised ones always present).
/// Serialised as the mapping of names to parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SearchSpace {
    /// Every parameter by name.
    pub params: BTreeMap<String, Param>,
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
    /// Checks the `space` mapping of a manifest (`raw`, as serde decoded it, `None` when
    /// absent) over `defaults`: a parameter named there replaces the default of that name,
    /// the others keep theirs. Every issue is pushed with its key path below `path`; a
    /// parameter with an issue keeps its default (or is left out).
    pub fn check(
        raw: Option<&BTreeMap<String, RawParam>>,
        defaults: SearchSpace,
        path: &[&str],
        issues: &mut Vec<ParamIssue>,
    ) -> SearchSpace {
        let mut space = defaults;
        for (name, item) in raw.into_iter().flatten() {
            let mut at: Vec<String> = path.iter().map(|p| p.to_string()).collect();
            at.push(name.clone());
            let Some(param) = Param::check(item, &at, issues) else {
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
                    space.params.insert(name.clone(), param);
                }
                Err(message) => issues.push(issue(&at, message)),
            }
        }
        space
    }

    /// The default space of the study (tables 1–3): layers int 1..4, units int 16..256
    /// step 16, learning_rate float 1e-4..1e-2 log, batch_size choice [32, 64, 128],
    /// activation choice [relu, tanh]. (Its budget — 20 trials of 1 execution, at most
    /// 200 epochs, patience 10 — is the `search` stage's.)
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
        SearchSpace { params }
    }

    /// The hyperparameters of trial `index` (0-based): the index-th distinct draw of a
    /// ChaCha8 stream seeded by `seed` (duplicates of earlier draws are skipped, as Keras
    /// Tuner does); None when the space has fewer distinct points than index+1 (given up
    /// after 100 consecutive duplicates). Deterministic and independent of which other
    /// trials exist.
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
    /// Checks one parameter as written (`raw`, at `path`): exactly one form, no key of
    /// another form, bounds as `[min, max]` in order, `step` ≥ 1, log sampling above 0, a
    /// non-empty choice. Pushes every issue found and returns the parameter when there was
    /// none. A parameter serde already reported an issue under is not checked again (its
    /// offending key was taken out, so what is left would only repeat the issue).
    pub fn check(raw: &RawParam, path: &[String], issues: &mut Vec<ParamIssue>) -> Option<Param> {
        if issues.iter().any(|i| i.path.starts_with(path)) {
            return None;
        }
        let present = [
            ("int", raw.int.is_some()),
            ("float", raw.float.is_some()),
            ("choice", raw.choice.is_some()),
        ];
        let kinds: Vec<&str> = present
            .into_iter()
            .filter_map(|(kind, there)| there.then_some(kind))
            .collect();
        let [kind] = kinds[..] else {
            issues.push(
                issue(path, "must have exactly one of int, float or choice").with_hint(PARAM_FORMS),
            );
            return None;
        };
        let before = issues.len();
        let extras = [
            ("step", raw.step.is_some() && kind != "int"),
            ("log", raw.log.is_some() && kind != "float"),
        ];
        for (key, _) in extras.into_iter().filter(|(_, wrong)| *wrong) {
            issues.push(
                issue(
                    &at(path, key),
                    format!("unknown key for a {kind} parameter"),
                )
                .with_hint(PARAM_FORMS),
            );
        }
        let bounds = &at(path, kind);
        let param = match (&raw.int, &raw.float, &raw.choice) {
            (Some(pair), _, _) => {
                let [min, max] = pair[..] else {
                    issues.push(issue(bounds, "must be [min, max] with integer bounds"));
                    return None;
                };
                let step = match raw.step {
                    Some(step) if step < 1 => {
                        issues.push(issue(&at(path, "step"), "must be an integer of at least 1"));
                        1
                    }
                    step => step.unwrap_or(1),
                };
                Param::Int { min, max, step }
            }
            (_, Some(pair), _) => {
                let [min, max] = pair[..] else {
                    issues.push(issue(bounds, "must be [min, max] with number bounds"));
                    return None;
                };
                let log = raw.log.unwrap_or(false);
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
            (_, _, Some(items)) if !items.is_empty() => Param::Choice(items.clone()),
            _ => {
                issues.push(issue(bounds, "must be a non-empty list"));
                return None;
            }
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
    pub(crate) fn all_values(&self, ok: impl Fn(&Value) -> bool) -> bool {
        match self {
            Param::Int { min, max, .. } => ok(&json!(min)) && ok(&json!(max)),
            Param::Float { min, max, .. } => ok(&json!(min)) && ok(&json!(max)),
            Param::Choice(items) => items.iter().all(ok),
        }
    }
}

impl TryFrom<RawParam> for Param {
    type Error = String;

    /// The canonical form read back: the same check as a manifest's parameter.
    fn try_from(raw: RawParam) -> Result<Param, String> {
        let mut issues = Vec::new();
        Param::check(&raw, &[], &mut issues).ok_or_else(|| ParamIssue::line(&issues))
    }
}

impl From<Param> for RawParam {
    fn from(param: Param) -> RawParam {
        match param {
            Param::Int { min, max, step } => RawParam {
                int: Some(vec![min, max]),
                step: Some(step),
                ..RawParam::default()
            },
            Param::Float { min, max, log } => RawParam {
                float: Some(vec![min, max]),
                log: Some(log),
                ..RawParam::default()
            },
            Param::Choice(items) => RawParam {
                choice: Some(items),
                ..RawParam::default()
            },
        }
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

    use crate::decode_params_lenient;

    /// A `space` mapping as a manifest writes it, decoded by serde and checked over the
    /// study's defaults, as the searching stages do.
    fn check(value: Value) -> Result<SearchSpace, Vec<ParamIssue>> {
        let (raw, mut issues) = decode_params_lenient::<BTreeMap<String, RawParam>>(&value);
        for issue in &mut issues {
            issue.path.insert(0, "space".into());
        }
        let space = SearchSpace::check(
            raw.as_ref(),
            SearchSpace::study_default(),
            &["space"],
            &mut issues,
        );
        if issues.is_empty() {
            Ok(space)
        } else {
            Err(issues)
        }
    }

    fn study_json() -> Value {
        json!({
            "layers": {"int": [1, 4], "step": 1},
            "units": {"int": [16, 256], "step": 16},
            "learning_rate": {"float": [0.0001, 0.01], "log": true},
            "batch_size": {"choice": [32, 64, 128]},
            "activation": {"choice": ["relu", "tanh"]},
        })
    }

    #[test]
    fn parses_the_study_space_and_round_trips() {
        let space = check(study_json()).unwrap();
        assert_eq!(space, SearchSpace::study_default());
        let canonical = serde_json::to_value(&space).unwrap();
        assert_eq!(canonical, study_json());
        assert_eq!(check(canonical.clone()).unwrap(), space);
        let decoded: SearchSpace = serde_json::from_value(canonical).unwrap();
        assert_eq!(decoded, space);
    }

    #[test]
    fn a_changed_canonical_parameter_is_refused() {
        let error = serde_json::from_value::<SearchSpace>(json!({"units": {"int": [4, 1]}}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("minimum exceeds maximum"), "{error}");
    }

    #[test]
    fn missing_names_take_defaults_and_others_go_to_extra() {
        let space = check(json!({"dropout": {"float": [0.0, 0.5]}})).unwrap();
        assert_eq!(
            space.params["units"],
            SearchSpace::study_default().params["units"]
        );
        let canonical = serde_json::to_value(&space).unwrap();
        assert_eq!(check(canonical).unwrap(), space);
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
        let space = check(json!({
            "layers": {"int": [1, 1]},
            "units": {"int": [16, 16], "step": 16},
            "learning_rate": {"float": [0.001, 0.001]},
            "batch_size": {"choice": [32]},
            "activation": {"choice": ["relu", "tanh"]},
        }))
        .unwrap();
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
        value["units"]["step"] = json!(0);
        let issues = check(value).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, ["space", "units", "step"]);
        // A wrong type is serde's to report, at the key, in the manifest's words; the
        // parameter is then not checked again.
        let issues = check(json!({"units": {"int": [1.5, 4]}})).unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, ["space", "units", "int", "0"]);
        assert_eq!(issues[0].message, "must be a whole number, got 1.5");
        let issues = check(json!({"units": {"int": [1, 4], "stepp": 2}})).unwrap_err();
        assert_eq!(issues[0].path, ["space", "units", "stepp"]);
        assert!(
            issues[0].message.starts_with("unknown field `stepp`"),
            "{issues:?}"
        );
    }

    #[test]
    fn every_error_is_reported() {
        let issues = check(json!({
            "layers": {"int": [4, 1]},
            "learning_rate": {"float": [0.0, 0.01], "log": true},
            "batch_size": {"choice": [32, 0]},
            "activation": {"choice": ["relu", "swish"]},
            "units": {"choice": []},
            "dropout": {"float": [0.0, 0.5], "step": 1},
            "width": {"int": [1, 2], "choice": [1]},
            "depth": {"int": [1, 2, 3]},
        }))
        .unwrap_err();
        let paths: Vec<String> = issues.iter().map(|i| i.path.join(".")).collect();
        for expected in [
            "space.layers.int",
            "space.learning_rate.float",
            "space.batch_size",
            "space.activation",
            "space.units.choice",
            "space.dropout.step",
            "space.width",
            "space.depth.int",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} not in {paths:?}"
            );
        }
    }
}
