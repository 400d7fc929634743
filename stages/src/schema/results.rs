//! The tables the learning side writes and the report reads: the split's `rows` and
//! `assignment`, the `evaluate` stage's `per_layer` and `predictions`, and the `whole`
//! stage's `networks` and `layers`. Key columns (`network`, `setting`, `run`, `party`,
//! `layer`, `kind`, …) are the dataset's ([`super::dataset`]).
//!
//! Nulls: the writers store a metric they could not compute as NaN; a null in a metric
//! column reads as NaN as well (the report shows "–").
//!
//! Missing columns: `r2_run_mean` and `r2_ceiling` came after the first evaluated stores;
//! an older `per_layer` table has neither and the report leaves their table out.
//! `recommended_method` (in `per_layer` and the `whole` stage's `networks`) and
//! `validation_r2` came with the method choice on validation networks; an older table reads
//! as recommending nothing ("") and without validation R².

use super::column::{Absent, ColumnDef, Nulls};
use super::dataset::{FAMILY, KIND, LAYER, LAYERS, NETWORK, PARTY, RUN, SETTING, SOURCE_STAGE};

/// A row's side of the split: `train`, `validation`, `test` or `reference`.
pub const SIDE: ColumnDef = ColumnDef::text("side");
/// The dataset view (layer type) a result is about.
pub const VIEW: ColumnDef = ColumnDef::text("view");
/// The method's stored name ([`crate::Method::name`]).
pub const METHOD: ColumnDef = ColumnDef::text("method");
/// What the split grouped by (`network` or `family`).
pub const SPLIT: ColumnDef = ColumnDef::text("split");
/// Test rows a metric is computed over.
pub const TEST_ROWS: ColumnDef = ColumnDef::count("test_rows");
/// Mean measured layer time (s).
pub const T_LAYER_S: ColumnDef = ColumnDef::real("t_layer_s").nulls(Nulls::AsNan);
/// Mean absolute error (s).
pub const MAE_S: ColumnDef = ColumnDef::real("mae_s").nulls(Nulls::AsNan);
/// R² on single runs.
pub const R2: ColumnDef = ColumnDef::real("r2").nulls(Nulls::AsNan);
/// R² against each layer's mean over its runs.
pub const R2_RUN_MEAN: ColumnDef = ColumnDef::real("r2_run_mean")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);
/// The run-to-run noise ceiling of the single-run R².
pub const R2_CEILING: ColumnDef = ColumnDef::real("r2_ceiling")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);
/// R² on the single runs of the networks that choose the recommended method: the
/// validation networks, or the split's selection networks when it has them.
pub const VALIDATION_R2: ColumnDef = ColumnDef::real("validation_r2")
    .nulls(Nulls::AsNan)
    .absent(Absent::Optional);
/// The method recommended for the row's group (layer type × party × setting, or party ×
/// setting for whole networks), chosen on the validation networks; "" when none could be.
pub const RECOMMENDED_METHOD: ColumnDef =
    ColumnDef::text("recommended_method").absent(Absent::Text(""));
/// Mean absolute percentage error.
pub const MAPE: ColumnDef = ColumnDef::real("mape").nulls(Nulls::AsNan);
/// Prediction time per layer (µs).
pub const T_PRED_US: ColumnDef = ColumnDef::real("t_pred_us").nulls(Nulls::AsNan);
/// Measured seconds.
pub const MEASURED_S: ColumnDef = ColumnDef::real("measured_s").nulls(Nulls::AsNan);
/// Predicted seconds.
pub const PREDICTED_S: ColumnDef = ColumnDef::real("predicted_s").nulls(Nulls::AsNan);
/// Runs a network's measurement is averaged over.
pub const RUNS: ColumnDef = ColumnDef::count("runs");
/// Layers no per-layer model covers.
pub const UNCOVERED_LAYERS: ColumnDef = ColumnDef::count("uncovered_layers");
/// The measured secure-inference time of a whole network (s).
pub const T_SNNI_S: ColumnDef = ColumnDef::real("t_snni_s").nulls(Nulls::AsNan);
/// Predicted minus measured (s).
pub const ERROR_S: ColumnDef = ColumnDef::real("error_s").nulls(Nulls::AsNan);
/// The error in percent of the measured time.
pub const ERROR_PCT: ColumnDef = ColumnDef::real("error_pct").nulls(Nulls::AsNan);
/// Prediction time of a whole network (ms).
pub const T_PRED_MS: ColumnDef = ColumnDef::real("t_pred_ms").nulls(Nulls::AsNan);

/// The split's factor on a row's times (`speed: probe`; tables without it: factor 1).
pub const SPEED_FACTOR: ColumnDef = ColumnDef::real("speed_factor").absent(Absent::Optional);

/// The split's `rows`: one per dataset row, in its order.
pub const SPLIT_ROWS: [ColumnDef; 7] = [NETWORK, SETTING, RUN, PARTY, LAYER, KIND, SIDE];
/// The split's `assignment`: one per network.
pub const SPLIT_ASSIGNMENT: [ColumnDef; 4] = [NETWORK, FAMILY, SOURCE_STAGE, SIDE];
/// The `evaluate` stage's `per_layer`: metrics per view, party, setting and method.
pub const EVALUATE_PER_LAYER: [ColumnDef; 15] = [
    VIEW,
    PARTY,
    SETTING,
    METHOD,
    SPLIT,
    TEST_ROWS,
    T_LAYER_S,
    MAE_S,
    R2,
    R2_RUN_MEAN,
    R2_CEILING,
    MAPE,
    T_PRED_US,
    VALIDATION_R2,
    RECOMMENDED_METHOD,
];
/// The `evaluate` stage's `predictions`: every test row's prediction by every method.
pub const EVALUATE_PREDICTIONS: [ColumnDef; 9] = [
    NETWORK,
    SETTING,
    PARTY,
    RUN,
    LAYER,
    VIEW,
    METHOD,
    MEASURED_S,
    PREDICTED_S,
];
/// The `whole` stage's `networks`: each network's total by every method.
pub const WHOLE_NETWORKS: [ColumnDef; 14] = [
    NETWORK,
    SIDE,
    PARTY,
    SETTING,
    METHOD,
    RUNS,
    LAYERS,
    UNCOVERED_LAYERS,
    T_SNNI_S,
    PREDICTED_S,
    ERROR_S,
    ERROR_PCT,
    T_PRED_MS,
    RECOMMENDED_METHOD,
];
/// The `whole` stage's `layers`: each layer of each network by every method.
pub const WHOLE_LAYERS: [ColumnDef; 9] = [
    NETWORK,
    SIDE,
    PARTY,
    SETTING,
    METHOD,
    LAYER,
    KIND,
    MEASURED_S,
    PREDICTED_S,
];
