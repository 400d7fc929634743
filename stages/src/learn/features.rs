//! What each method sees of a layer: the study's raw parameters and engineered features
//! (`analytical`), the engine's planned protocol counts with the link's cost terms
//! (`protocol`), and both for the MLP.

use super::frame::ViewRows;
use crate::schema::dataset::{
    BANDWIDTH_BPS, COMPARISONS, CT_PT_PRODUCTS, DEGREE, ELEMENTS, FILTERS, FLOPS, INPUTS,
    INPUT_CTS, INPUT_SIZE, IN_C, IN_H, IN_W, KERNEL_H, KERNEL_W, MULTIPLICATIONS, OTS,
    OT_POOL_GROWTH, OT_REFILLS, OUTPUT_CTS, OUTPUT_ELEMENTS, OUTPUT_SIZE, OUT_C, OUT_H, OUT_W,
    PADDING, PLANNED_BYTES, PLANNED_ROUNDS, RELU_CHANNELS, RELU_FRACTION, RTT_US, STRIDE,
    TRUNCATIONS, UNITS, WEIGHT_POLYS, WEIGHT_SIZE,
};
use crate::schema::ColumnDef;
use crate::StageError;

/// One input of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// A dataset column as is.
    Column(&'static str),
    /// Planned bytes over the setting's bandwidth: seconds on the wire (0 when unshaped).
    WireSeconds,
    /// Rounds times the setting's round-trip time, in seconds (0 when unshaped).
    RoundTripSeconds,
    /// 1 when the layer is of this kind, else 0 (the sequence model sees every kind).
    IsKind(&'static str),
}

impl Feature {
    /// The name stored with a model.
    pub fn name(self) -> String {
        match self {
            Feature::Column(name) => name.to_string(),
            Feature::WireSeconds => "planned_bytes*8/bandwidth".to_string(),
            Feature::RoundTripSeconds => "planned_rounds*rtt".to_string(),
            Feature::IsKind(kind) => format!("kind={kind}"),
        }
    }
}

/// The study's raw layer parameters of a view (BRIEF §5) plus its engineered features.
pub fn analytical(view: &str) -> Vec<Feature> {
    let raw: &[ColumnDef] = match view {
        "conv" => &[
            IN_H, IN_W, IN_C, KERNEL_H, KERNEL_W, FILTERS, PADDING, STRIDE,
        ],
        "fc" => &[IN_C, UNITS],
        "batch_norm" => &[IN_C, IN_H, IN_W],
        "relu" => &[ELEMENTS],
        "max_pool" | "avg_pool" => &[OUT_H, OUT_W, OUT_C, KERNEL_H, KERNEL_W, STRIDE, IN_H, IN_W],
        "poly_act" => &[ELEMENTS, RELU_CHANNELS, DEGREE],
        _ => &[INPUTS, ELEMENTS],
    };
    let engineered: &[ColumnDef] = &[FLOPS, INPUT_SIZE, WEIGHT_SIZE, OUTPUT_SIZE];
    raw.iter()
        .chain(engineered)
        .map(|c| Feature::Column(c.name))
        .collect()
}

/// The engine's planned counts (setting-independent work).
pub fn protocol_counts() -> Vec<Feature> {
    [
        CT_PT_PRODUCTS,
        INPUT_CTS,
        OUTPUT_CTS,
        WEIGHT_POLYS,
        COMPARISONS,
        TRUNCATIONS,
        MULTIPLICATIONS,
        OTS,
        // A refill's cost is not proportional to the layer's OTs or bytes; without this
        // column the non-negative fits cannot separate it (ReLU on Local: R² 0.88 → 0.99).
        OT_REFILLS,
        // Nor is the memory a pool grows by when a draw first needs more than it held.
        OT_POOL_GROWTH,
        OUTPUT_ELEMENTS,
        PLANNED_BYTES,
        PLANNED_ROUNDS,
    ]
    .into_iter()
    .map(|c| Feature::Column(c.name))
    .collect()
}

/// Protocol counts plus the link's terms: what `protocol` regresses on.
pub fn protocol() -> Vec<Feature> {
    let mut features = protocol_counts();
    features.extend([Feature::WireSeconds, Feature::RoundTripSeconds]);
    features
}

/// Everything the MLP sees: the analytical features and the protocol counts.
pub fn mlp(view: &str) -> Vec<Feature> {
    let mut features = analytical(view);
    for feature in protocol_counts() {
        if !features.contains(&feature) {
            features.push(feature);
        }
    }
    features
}

/// What the sequence model sees of every layer, whatever its kind: the kind (one-hot),
/// every raw parameter and engineered feature (0 where one does not apply), the planned
/// counts and the link's terms.
pub fn sequence() -> Vec<Feature> {
    let mut features: Vec<Feature> = snni_engine::network::OpKind::ALL
        .iter()
        .map(|k| Feature::IsKind(k.as_str()))
        .collect();
    features.extend(
        [
            IN_H,
            IN_W,
            IN_C,
            OUT_H,
            OUT_W,
            OUT_C,
            KERNEL_H,
            KERNEL_W,
            STRIDE,
            PADDING,
            FILTERS,
            UNITS,
            INPUTS,
            ELEMENTS,
            RELU_FRACTION,
            DEGREE,
            RELU_CHANNELS,
            FLOPS,
            INPUT_SIZE,
            WEIGHT_SIZE,
            OUTPUT_SIZE,
        ]
        .map(|c| Feature::Column(c.name)),
    );
    features.extend(protocol());
    features
}

/// The value of every feature for the rows `indices`, one vector per row.
pub fn matrix(
    rows: &ViewRows,
    indices: &[usize],
    features: &[Feature],
) -> Result<Vec<Vec<f64>>, StageError> {
    let columns: Vec<Vec<f64>> = features
        .iter()
        .map(|&feature| feature_column(rows, indices, feature))
        .collect::<Result<_, _>>()?;
    Ok((0..indices.len())
        .map(|r| columns.iter().map(|c| c[r]).collect())
        .collect())
}

fn feature_column(
    rows: &ViewRows,
    indices: &[usize],
    feature: Feature,
) -> Result<Vec<f64>, StageError> {
    Ok(match feature {
        Feature::Column(name) => {
            let column = rows.column(name)?;
            indices.iter().map(|&i| column[i]).collect()
        }
        Feature::WireSeconds => {
            let bytes = rows.column(PLANNED_BYTES.name)?;
            let bandwidth = rows.column(BANDWIDTH_BPS.name)?;
            indices
                .iter()
                .map(|&i| wire_seconds(bytes[i], bandwidth[i]))
                .collect()
        }
        Feature::RoundTripSeconds => {
            let rounds = rows.column(PLANNED_ROUNDS.name)?;
            let rtt = rows.column(RTT_US.name)?;
            indices.iter().map(|&i| rounds[i] * rtt[i] * 1e-6).collect()
        }
        Feature::IsKind(kind) => indices
            .iter()
            .map(|&i| f64::from(u8::from(rows.kind[i] == kind)))
            .collect(),
    })
}

/// Seconds `bytes` take at `bandwidth_bps` (0 for an unshaped link).
pub fn wire_seconds(bytes: f64, bandwidth_bps: f64) -> f64 {
    if bandwidth_bps > 0.0 {
        bytes * 8.0 / bandwidth_bps
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_its_study_parameters_and_the_engineered_features() {
        for view in crate::VIEW_NAMES {
            let names: Vec<String> = analytical(view).iter().map(|f| f.name()).collect();
            for engineered in ["flops", "input_size", "weight_size", "output_size"] {
                assert!(names.iter().any(|n| n == engineered), "{view}: {names:?}");
            }
        }
        let conv: Vec<String> = analytical("conv").iter().map(|f| f.name()).collect();
        assert!(conv.contains(&"kernel_h".to_string()) && conv.contains(&"filters".to_string()));
    }

    #[test]
    fn link_terms_are_seconds_and_zero_when_unshaped() {
        assert_eq!(wire_seconds(1_000_000.0, 8_000_000.0), 1.0);
        assert_eq!(wire_seconds(1_000_000.0, 0.0), 0.0);
        let protocol = protocol();
        assert_eq!(protocol[protocol.len() - 2], Feature::WireSeconds);
        assert_eq!(protocol[protocol.len() - 1], Feature::RoundTripSeconds);
        // The MLP sees every analytical feature and every count, once.
        let mlp = mlp("conv");
        let mut unique = mlp.clone();
        unique.dedup();
        assert_eq!(unique.len(), mlp.len());
        assert!(protocol_counts().iter().all(|f| mlp.contains(f)));
    }
}
