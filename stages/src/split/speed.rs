//! Machine-speed normalisation (`speed: probe`): every run's times scaled to one reference
//! machine speed, with the exponent fitted on the training networks only.
//!
//! The profile stage probes the machine's speed around each shard (`probe_he_per_s`, HE
//! layers per second on one thread). A VM's speed drifts by ±10 % over minutes, and a slow
//! stretch makes every layer of the shard slower, including the held-out networks that
//! happened to run in it. Per setting the split fits
//!
//! ```text
//! log t = a(network, party) − β · log p
//! ```
//!
//! on the training networks' runs (a network's own mean taken out, so only how the *same*
//! network's runs vary with the probe counts), and gives every run the factor
//! `(p / p_ref)^β`, where `p_ref` is the median probe of the setting's training runs. The
//! learning stages multiply the run's times by it: what they train on and are tested
//! against is the time on a machine at the reference speed. β = 1 would say time is
//! inversely proportional to the probe; on a shaped link part of the time is the link's and
//! β comes out lower. β is kept in [0, [`MAX_BETA`]]: a negative one (slower probe, faster
//! run) has no physical reading and would only fit noise. A run without a probe, or a
//! setting with too little to fit, keeps factor 1.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use snni_artifacts::{BlobSource, Output};

use super::assign::Side;
use super::error;
use crate::schema::dataset::{NETWORK, PARTY, PROBE_HE_PER_S, RUN, SETTING, TOTAL_S};
use crate::schema::TableReader;
use crate::{StageError, UpstreamStage};

/// The dataset output the fit reads: one row per party and run of each network.
pub const NETWORKS_OUTPUT: &str = "tables/networks";

/// The largest exponent the fit may give.
pub const MAX_BETA: f64 = 2.0;

/// A run of one party: network, setting, run, party.
pub type RunKey = (String, String, u64, String);

/// What the fit found in one setting (the split's `summary` lists it per setting).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SettingSpeed {
    /// The fitted exponent, in [0, [`MAX_BETA`]] (0 when there was nothing to fit).
    pub beta: f64,
    /// The least-squares exponent before it was kept in range (`null` when there was
    /// nothing to fit).
    pub beta_unclamped: Option<f64>,
    /// The median probe of the setting's training runs (HE layers per second): the speed
    /// every time is scaled to (`null` when no training run has a probe).
    pub reference_he_per_s: Option<f64>,
    /// Training (network, party) groups with two or more probed runs: what β is fitted on.
    pub fitted_groups: usize,
    /// Mean coefficient of variation of a training network's total time over its runs,
    /// before and after the scaling (`null` without groups).
    pub train_run_cv: Option<f64>,
    /// The same after the scaling.
    pub train_run_cv_scaled: Option<f64>,
}

/// Every run's factor and the fit per setting.
#[derive(Debug, Default)]
pub struct SpeedFit {
    /// Per setting.
    pub settings: BTreeMap<String, SettingSpeed>,
    /// Per run of one party: the factor its times are multiplied by.
    pub factors: HashMap<RunKey, f64>,
}

/// One party's run in the networks table.
struct Run {
    key: RunKey,
    total_s: f64,
    probe: Option<f64>,
}

/// Fits the factors on the dataset stage's networks table; `training(network)` says which
/// networks are trained on.
pub fn fit(
    stage: &UpstreamStage,
    store: &dyn BlobSource,
    training: impl Fn(&str) -> bool,
) -> Result<SpeedFit, StageError> {
    let runs = read_runs(stage, store)?;
    Ok(fit_runs(&runs, training))
}

fn read_runs(stage: &UpstreamStage, store: &dyn BlobSource) -> Result<Vec<Run>, StageError> {
    let Some(Output::Table(table)) = stage.record.outputs.get(NETWORKS_OUTPUT) else {
        return Err(error(
            &stage.name,
            format!("`speed: probe` needs the dataset's table `{NETWORKS_OUTPUT}`"),
        ));
    };
    let frame = store
        .read_table(table)
        .map_err(|source| StageError::Store {
            name: format!("{}/{NETWORKS_OUTPUT}", stage.name),
            source: Box::new(source),
        })?;
    let table = TableReader::new(NETWORKS_OUTPUT, &frame);
    let read = || -> Result<_, crate::schema::SchemaError> {
        Ok((
            table.text(NETWORK)?,
            table.text(SETTING)?,
            table.counts(RUN)?,
            table.text(PARTY)?,
            table.numbers(TOTAL_S)?,
            table.optional_numbers(PROBE_HE_PER_S)?,
        ))
    };
    let (network, setting, run, party, total, probe) =
        read().map_err(|err| error(&stage.name, err.to_string()))?;
    if probe.is_none() {
        tracing::warn!(
            stage = %stage.name,
            "split: `speed: probe`, but the dataset has no `{}` column (measured before the \
             probe existed); every factor is 1",
            PROBE_HE_PER_S.name
        );
    }
    Ok((0..network.len())
        .map(|i| Run {
            key: (
                network[i].clone(),
                setting[i].clone(),
                run[i],
                party[i].clone(),
            ),
            total_s: total[i],
            probe: probe
                .as_ref()
                .map(|p| p[i])
                .filter(|p| p.is_finite() && *p > 0.0),
        })
        .collect())
}

fn fit_runs(runs: &[Run], training: impl Fn(&str) -> bool) -> SpeedFit {
    let mut by_setting: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        by_setting.entry(run.key.1.as_str()).or_default().push(run);
    }
    let mut fit = SpeedFit::default();
    for (setting, runs) in by_setting {
        let train: Vec<&Run> = runs
            .iter()
            .copied()
            .filter(|run| training(&run.key.0))
            .collect();
        let speed = fit_setting(&train);
        for run in runs {
            let factor = match (run.probe, speed.reference_he_per_s) {
                (Some(p), Some(reference)) => (p / reference).powf(speed.beta),
                _ => 1.0,
            };
            fit.factors.insert(run.key.clone(), factor);
        }
        tracing::info!(
            setting,
            beta = speed.beta,
            reference = speed.reference_he_per_s,
            groups = speed.fitted_groups,
            "split: speed exponent fitted on the training runs"
        );
        fit.settings.insert(setting.to_string(), speed);
    }
    fit
}

/// β and the reference speed from one setting's training runs.
fn fit_setting(train: &[&Run]) -> SettingSpeed {
    let mut probes: Vec<f64> = train.iter().filter_map(|run| run.probe).collect();
    probes.sort_by(f64::total_cmp);
    let reference = median(&probes);
    // Groups: one party of one network, its probed runs with a positive time.
    let mut groups: BTreeMap<(&str, &str), Vec<(f64, f64)>> = BTreeMap::new();
    for run in train {
        if let Some(p) = run.probe.filter(|_| run.total_s > 0.0) {
            groups
                .entry((run.key.0.as_str(), run.key.3.as_str()))
                .or_default()
                .push((run.total_s.ln(), p.ln()));
        }
    }
    groups.retain(|_, runs| runs.len() >= 2);
    let (mut xx, mut xy) = (0.0, 0.0);
    for runs in groups.values() {
        let n = runs.len() as f64;
        let mean_t = runs.iter().map(|r| r.0).sum::<f64>() / n;
        let mean_p = runs.iter().map(|r| r.1).sum::<f64>() / n;
        for &(t, p) in runs {
            xx += (p - mean_p) * (p - mean_p);
            xy += (p - mean_p) * (t - mean_t);
        }
    }
    // Below this spread of log probes (a probe that never moved) the slope is noise.
    let unclamped = (xx > 1e-9).then(|| -xy / xx);
    let beta = unclamped.map_or(0.0, |b| b.clamp(0.0, MAX_BETA));
    let cv = |beta: f64| -> Option<f64> {
        let reference = reference?;
        let cvs: Vec<f64> = groups
            .values()
            .map(|runs| {
                let times: Vec<f64> = runs
                    .iter()
                    .map(|&(t, p)| t.exp() * (p.exp() / reference).powf(beta))
                    .collect();
                coefficient_of_variation(&times)
            })
            .collect();
        (!cvs.is_empty()).then(|| cvs.iter().sum::<f64>() / cvs.len() as f64)
    };
    SettingSpeed {
        beta,
        beta_unclamped: unclamped,
        reference_he_per_s: reference,
        fitted_groups: groups.len(),
        train_run_cv: cv(0.0),
        train_run_cv_scaled: cv(beta),
    }
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Population standard deviation over the mean.
fn coefficient_of_variation(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    var.sqrt() / mean
}

/// The factor of each layer row (`rows` in the split's row order), from its run's; a row
/// whose run the networks table lacks is an error naming it.
pub fn row_factors(
    fit: &SpeedFit,
    rows: &super::layers::LayerRows,
    stage: &str,
) -> Result<Vec<f64>, StageError> {
    (0..rows.len())
        .map(|i| {
            let key = (
                rows.network[i].clone(),
                rows.setting[i].clone(),
                rows.run[i],
                rows.party[i].clone(),
            );
            fit.factors.get(&key).copied().ok_or_else(|| {
                error(
                    stage,
                    format!(
                        "the dataset's layer rows have run {key:?}, which its `{NETWORKS_OUTPUT}` \
                         lacks; re-run the dataset stage"
                    ),
                )
            })
        })
        .collect()
}

/// Whether each network is fitted on, from the sides of its layer rows: all of them on
/// `train` (by network, the training networks; by row, a network with a row on any other
/// side is not fitted on, so the fit sees no held-out time).
pub fn training_networks(rows: &super::layers::LayerRows, sides: &[Side]) -> HashMap<String, bool> {
    let mut training: HashMap<String, bool> = HashMap::new();
    for (i, side) in sides.iter().enumerate() {
        let entry = training.entry(rows.network[i].clone()).or_insert(true);
        *entry &= *side == Side::Train;
    }
    training
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(network: &str, run: u64, total_s: f64, probe: Option<f64>) -> Run {
        Run {
            key: (network.into(), "local".into(), run, "server".into()),
            total_s,
            probe,
        }
    }

    /// Runs whose time is `base · (36 / p)^beta`, at probes around 36.
    fn runs_with(beta: f64) -> Vec<Run> {
        let mut runs = Vec::new();
        for (n, base) in [("a", 1.0), ("b", 5.0), ("c", 20.0)] {
            for (r, p) in [30.0, 36.0, 40.0].into_iter().enumerate() {
                runs.push(run(n, r as u64, base * (36.0_f64 / p).powf(beta), Some(p)));
            }
        }
        runs
    }

    #[test]
    fn the_exponent_is_recovered_and_the_scaled_runs_agree() {
        for beta in [0.0, 0.5, 1.0] {
            let fit = fit_runs(&runs_with(beta), |_| true);
            let speed = &fit.settings["local"];
            assert!((speed.beta - beta).abs() < 1e-9, "{speed:?}");
            assert_eq!(speed.reference_he_per_s, Some(36.0));
            assert_eq!(speed.fitted_groups, 3);
            assert!(speed.train_run_cv_scaled.unwrap() < 1e-9, "{speed:?}");
            // Every run of network `b` scales to 5 s.
            for r in 0..3 {
                let key = (
                    "b".to_string(),
                    "local".to_string(),
                    r,
                    "server".to_string(),
                );
                let runs = runs_with(beta);
                let total = runs.iter().find(|x| x.key == key).unwrap().total_s;
                assert!((total * fit.factors[&key] - 5.0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn only_training_networks_are_fitted_on() {
        // Network `c` is not trained on and runs the other way round (faster when the
        // probe is slower); left in, it would pull β down.
        let mut runs = runs_with(1.0);
        for (r, p) in [30.0, 36.0, 40.0].into_iter().enumerate() {
            runs.push(run("d", r as u64, 10.0 * p / 36.0, Some(p)));
        }
        let fit = fit_runs(&runs, |network| network != "d");
        assert!((fit.settings["local"].beta - 1.0).abs() < 1e-9);
        let with_d = fit_runs(&runs, |_| true);
        assert!(with_d.settings["local"].beta < 0.9);
        // The held-out network still gets its factor.
        let key = (
            "d".to_string(),
            "local".to_string(),
            0,
            "server".to_string(),
        );
        assert!((fit.factors[&key] - 30.0 / 36.0).abs() < 1e-9);
    }

    #[test]
    fn a_negative_slope_is_kept_at_zero_and_missing_probes_keep_factor_one() {
        let fit = fit_runs(&runs_with(-0.5), |_| true);
        let speed = &fit.settings["local"];
        assert_eq!(speed.beta, 0.0);
        assert!((speed.beta_unclamped.unwrap() + 0.5).abs() < 1e-9);
        assert!(fit.factors.values().all(|&f| f == 1.0));

        let runs = vec![run("a", 0, 1.0, None), run("a", 1, 1.2, None)];
        let fit = fit_runs(&runs, |_| true);
        let speed = &fit.settings["local"];
        assert_eq!((speed.beta, speed.beta_unclamped), (0.0, None));
        assert_eq!(speed.reference_he_per_s, None);
        assert!(fit.factors.values().all(|&f| f == 1.0));
    }

    #[test]
    fn a_probe_that_never_moved_fits_nothing() {
        let runs = vec![run("a", 0, 1.0, Some(36.0)), run("a", 1, 1.2, Some(36.0))];
        let speed = &fit_runs(&runs, |_| true).settings["local"];
        assert_eq!((speed.beta, speed.beta_unclamped), (0.0, None));
        assert_eq!(speed.fitted_groups, 1);
    }
}
