//! Random network synthesis: the generator behind the `synthesize` stage.
//!
//! The study profiles many small random networks so that every layer type is seen at many
//! sizes (seed §1.1, "Data generation"). [`SynthesisParams`] holds the ranges, with defaults
//! taken from the seed (§1.2, "Experimental setup") and from the study's public generator
//! (`Cheetah_evaluator/generate_model/generate_convmp.py` in the repository of the seed's
//! footnote 1; "the public generator" below). [`SynthesisParams::validate`] reports every
//! problem at once; [`generate`] builds network `index` of a study from `(seed, index)` alone,
//! so a network never depends on how many others are generated.
//!
//! A network is `layers` blocks of one [`Family`], then an optional fully connected head:
//!
//! - conv families: `conv` → optional `batch_norm` → `relu` (or `poly_act`) → the family's
//!   pool (`max_pool` or `avg_pool`, none for `conv`);
//! - pool families: one `max_pool` or `avg_pool` on the input's channels;
//! - head: `flatten` (or `global_avg_pool` when the map is larger than `fc_max_inputs`) →
//!   `fc` → `relu` → `fc` with `classes` outputs.
//!
//! Windows never produce an empty map: a kernel is only chosen if it fits the current map with
//! its padding, and filters are capped so that a conv output stays within `max_activation`.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use snni_engine::network::{window_output, Network, NetworkBuilder, Op, Shape};

use crate::ParamIssue;

/// A family of synthesized networks (the study's network kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Stacks of convolutions (each with optional BN and an activation).
    Conv,
    /// Convolution blocks each followed by a max pool.
    ConvMaxpool,
    /// Convolution blocks each followed by an average pool.
    ConvAvgpool,
    /// Stacks of max pools on the input.
    Maxpool,
    /// Stacks of average pools on the input.
    Avgpool,
}

impl Family {
    /// Every family, in declaration order.
    pub const ALL: [Family; 5] = [
        Family::Conv,
        Family::ConvMaxpool,
        Family::ConvAvgpool,
        Family::Maxpool,
        Family::Avgpool,
    ];

    /// The name used in parameters and as [`Network::family`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Conv => "conv",
            Family::ConvMaxpool => "conv_maxpool",
            Family::ConvAvgpool => "conv_avgpool",
            Family::Maxpool => "maxpool",
            Family::Avgpool => "avgpool",
        }
    }

    /// Whether blocks of this family start with a convolution.
    pub const fn has_conv(self) -> bool {
        matches!(
            self,
            Family::Conv | Family::ConvMaxpool | Family::ConvAvgpool
        )
    }

    /// The pool of each block: `Some(true)` for max, `Some(false)` for average.
    const fn pool_is_max(self) -> Option<bool> {
        match self {
            Family::Conv => None,
            Family::ConvMaxpool | Family::Maxpool => Some(true),
            Family::ConvAvgpool | Family::Avgpool => Some(false),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive range `{min, max}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range<T> {
    /// Smallest value.
    pub min: T,
    /// Largest value.
    pub max: T,
}

/// How convolution and pooling windows are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaddingMode {
    /// `(k − 1) / 2` on each side: the size is kept at stride 1 (for odd kernels).
    Same,
    /// No padding.
    Valid,
    /// `same` or `valid`, chosen per layer with equal chance.
    Random,
}

/// The ranges networks are drawn from. Missing keys take their defaults; unknown keys are
/// rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthesisParams {
    /// Network input; default 224×224×3 (seed §1.2: "input dimensions are fixed to 224x224x3").
    pub input: Shape,
    /// Families to draw from, uniformly per network (list one twice to double its weight);
    /// default all five (the study's CONV, CONV+MP, CONV+AvP, MP and AvP networks).
    pub families: Vec<Family>,
    /// Number of blocks (main layers: a conv, or a pool in the pool families); default 5 to 10
    /// (the public generator uses 5 blocks, the study's CrypTen generators 5 to 10).
    pub layers: Range<usize>,
    /// Convolution kernel sides; default 1, 3, 5, 7 (seed §1.2: square kernels with odd width).
    pub kernels: Vec<usize>,
    /// Convolution output channels; default the powers of two 16 to 1024 (seed §1.2).
    pub filters: Vec<usize>,
    /// Pooling kernel sides; default 1, 3, 5, 7 (seed §1.2 states the same kernels for CONV,
    /// MP and AvP; the public generator used 2 and 3).
    pub pool_kernels: Vec<usize>,
    /// Strides of convolutions and pools; default 1 and 2 (public generator: `randint(1, 2)`).
    pub strides: Vec<usize>,
    /// Padding of convolutions and pools; default `random` (public generator: `valid` or
    /// `same` per layer).
    pub padding: PaddingMode,
    /// Largest conv output in elements (H·W·filters); filters that would exceed it are not
    /// drawn. Default 810,000 (public generator: `filters ≤ 810000 / H²`, which admits
    /// 224×224×16).
    pub max_activation: usize,
    /// Whether convolutions have a bias; default true (the public generator's
    /// `tf.layers.conv2d` default).
    pub conv_bias: bool,
    /// Chance of a batch norm after each conv; default 0.5 (ours: the study has BN layers in
    /// its data (seed tables 1–3, 7–8) but the public generator adds none).
    pub batch_norm_prob: f64,
    /// Chance of the fully connected head; default 1 (public generator: every network ends in
    /// flatten, fc 1024 + ReLU, fc 10).
    pub fc_head_prob: f64,
    /// Width of the head's hidden fc layer; default the powers of two 16 to 1024 (ours: the
    /// public generator fixes 1024, the wider range gives the FC predictor more sizes).
    pub fc_units: Vec<usize>,
    /// Outputs of the head's last fc layer; default 10 (public generator's logits).
    pub classes: usize,
    /// Largest flattened input of the head's first fc layer; larger maps are reduced by
    /// `global_avg_pool` instead of `flatten`. Default 50,176 = 7·7·1024 (ours, to bound the
    /// fc weight matrix).
    pub fc_max_inputs: usize,
    /// Chance that a conv's activation is a SAFENet `poly_act` instead of ReLU; default 0
    /// (off: not part of the study).
    pub poly_act_prob: f64,
    /// Polynomial degrees for `poly_act`; default 2 and 3 (SAFENet, seed 002 §3).
    pub poly_degrees: Vec<u8>,
    /// Fraction of channels that stay ReLU in `poly_act`, drawn in steps of 0.05; default 0
    /// to 1 (SAFENet searches its ratio over [0, 1] in steps of 0.05).
    pub relu_fraction: Range<f64>,
}

impl Default for SynthesisParams {
    fn default() -> Self {
        Self {
            input: Shape::new(224, 224, 3),
            families: Family::ALL.to_vec(),
            layers: Range { min: 5, max: 10 },
            kernels: vec![1, 3, 5, 7],
            filters: vec![16, 32, 64, 128, 256, 512, 1024],
            pool_kernels: vec![1, 3, 5, 7],
            strides: vec![1, 2],
            padding: PaddingMode::Random,
            max_activation: 810_000,
            conv_bias: true,
            batch_norm_prob: 0.5,
            fc_head_prob: 1.0,
            fc_units: vec![16, 32, 64, 128, 256, 512, 1024],
            classes: 10,
            fc_max_inputs: 50_176,
            poly_act_prob: 0.0,
            poly_degrees: vec![2, 3],
            relu_fraction: Range { min: 0.0, max: 1.0 },
        }
    }
}

impl SynthesisParams {
    /// Every problem found; empty when [`generate`] will honour all the ranges.
    pub fn validate(&self) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        let uses_conv = self.families.iter().any(|family| family.has_conv());
        let uses_pool = self.families.iter().any(|f| f.pool_is_max().is_some());
        let uses_head = self.fc_head_prob > 0.0;
        for (field, value) in [
            ("h", self.input.h),
            ("w", self.input.w),
            ("c", self.input.c),
        ] {
            if value == 0 {
                issues.push(ParamIssue::new(&["input", field], "must be at least 1"));
            }
        }
        if self.families.is_empty() {
            issues.push(
                ParamIssue::new(&["families"], "must list at least one family")
                    .with_hint("choose from conv, conv_maxpool, conv_avgpool, maxpool, avgpool"),
            );
        }
        if self.layers.min == 0 {
            issues.push(ParamIssue::new(&["layers", "min"], "must be at least 1"));
        }
        if self.layers.max < self.layers.min {
            let message = format!("must be at least layers.min ({})", self.layers.min);
            issues.push(ParamIssue::new(&["layers", "max"], message));
        }
        sizes(&mut issues, "kernels", &self.kernels, uses_conv, 11);
        sizes(&mut issues, "filters", &self.filters, uses_conv, usize::MAX);
        sizes(
            &mut issues,
            "pool_kernels",
            &self.pool_kernels,
            uses_pool,
            11,
        );
        sizes(&mut issues, "strides", &self.strides, true, usize::MAX);
        sizes(
            &mut issues,
            "fc_units",
            &self.fc_units,
            uses_head,
            usize::MAX,
        );
        for (field, value) in [
            ("max_activation", self.max_activation),
            ("classes", self.classes),
            ("fc_max_inputs", self.fc_max_inputs),
        ] {
            if value == 0 {
                issues.push(ParamIssue::new(&[field], "must be at least 1"));
            }
        }
        for (field, p) in [
            ("batch_norm_prob", self.batch_norm_prob),
            ("fc_head_prob", self.fc_head_prob),
            ("poly_act_prob", self.poly_act_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                let message = format!("must be a probability between 0 and 1, got {p}");
                issues.push(ParamIssue::new(&[field], message));
            }
        }
        self.check_activation(&mut issues, uses_conv);
        self.check_poly(&mut issues);
        if issues.is_empty() {
            self.check_depth(&mut issues);
        }
        issues
    }

    /// The smallest first conv output must fit `max_activation`.
    fn check_activation(&self, issues: &mut Vec<ParamIssue>, uses_conv: bool) {
        let smallest = self.filters.iter().copied().filter(|&f| f > 0).min();
        if let (true, Some(filters), true) = (uses_conv, smallest, self.max_activation > 0) {
            let first = Shape::new(self.input.h, self.input.w, filters);
            if first.elements() > self.max_activation as u64 {
                let message = format!(
                    "is below the first conv output at stride 1 ({first} = {} elements)",
                    first.elements()
                );
                issues
                    .push(ParamIssue::new(&["max_activation"], message).with_hint(
                        "raise max_activation, or use a smaller input or fewer filters",
                    ));
            }
        }
    }

    /// Polynomial activation settings, checked only when poly_act is enabled.
    fn check_poly(&self, issues: &mut Vec<ParamIssue>) {
        if self.poly_act_prob <= 0.0 {
            return;
        }
        if self.poly_degrees.is_empty() {
            issues.push(
                ParamIssue::new(&["poly_degrees"], "must not be empty").with_hint("use [2, 3]"),
            );
        }
        for (i, &degree) in self.poly_degrees.iter().enumerate() {
            if !(2..=3).contains(&degree) {
                let message = format!("must be 2 or 3, got {degree}");
                issues.push(ParamIssue::new(&["poly_degrees", &i.to_string()], message));
            }
        }
        let Range { min, max } = self.relu_fraction;
        for (field, value) in [("min", min), ("max", max)] {
            if !(0.0..=1.0).contains(&value) {
                let message = format!("must be between 0 and 1, got {value}");
                issues.push(ParamIssue::new(&["relu_fraction", field], message));
            }
        }
        if max < min {
            let message = format!("must be at least relu_fraction.min ({min})");
            issues.push(ParamIssue::new(&["relu_fraction", "max"], message));
        }
    }

    /// Follows the most shrinking choices (largest fitting kernel, largest stride) for
    /// `layers.min` blocks of each family and reports a family whose map ends up smaller than
    /// every kernel, so that [`generate`] would stop early.
    fn check_depth(&self, issues: &mut Vec<ParamIssue>) {
        let lists = Lists::new(self);
        let stride = lists.strides.iter().copied().max().unwrap_or(1);
        let mut families = lists.families.clone();
        families.sort();
        families.dedup();
        for family in families {
            let mut map = (self.input.h, self.input.w);
            for block in 1..=self.layers.min {
                let stuck = if family.has_conv() {
                    let stuck = !shrink(&mut map, &lists.kernels, stride, self.padding);
                    if !stuck && family.pool_is_max().is_some() {
                        shrink(&mut map, &lists.pool_kernels, stride, self.padding);
                    }
                    stuck
                } else {
                    !shrink(&mut map, &lists.pool_kernels, stride, self.padding)
                };
                if stuck {
                    let message = format!(
                        "input {}x{} is too small for {} {family} blocks: block {block} finds a \
                         {}x{} map that no kernel fits",
                        self.input.h, self.input.w, self.layers.min, map.0, map.1
                    );
                    issues.push(ParamIssue::new(&["layers", "min"], message).with_hint(
                        "lower layers.min, use a larger input, add kernel 1 or stride 1, or use \
                         padding: same",
                    ));
                    return;
                }
            }
        }
    }
}

/// Reports an empty list (if `used`) and entries outside `1..=max` under `field`.
fn sizes(issues: &mut Vec<ParamIssue>, field: &str, values: &[usize], used: bool, max: usize) {
    if used && values.is_empty() {
        issues.push(ParamIssue::new(&[field], "must not be empty"));
    }
    for (i, &value) in values.iter().enumerate() {
        if value == 0 || value > max {
            let message = if max == usize::MAX {
                "must be at least 1".to_owned()
            } else {
                format!("must be between 1 and {max}, got {value}")
            };
            issues.push(ParamIssue::new(&[field, &i.to_string()], message));
        }
    }
}

/// The padded kernels a layer may use on `map` under `mode`, `same` or `valid` style first.
fn fitting(map: (usize, usize), kernels: &[usize], valid: bool) -> Vec<(usize, usize)> {
    kernels
        .iter()
        .map(|&k| (k, if valid { 0 } else { (k - 1) / 2 }))
        .filter(|&(k, p)| {
            window_output(map.0, k, 1, p).is_some() && window_output(map.1, k, 1, p).is_some()
        })
        .collect()
}

/// Applies the most shrinking window to `map`; false if no kernel fits.
fn shrink(map: &mut (usize, usize), kernels: &[usize], stride: usize, mode: PaddingMode) -> bool {
    let mut options = Vec::new();
    if mode != PaddingMode::Valid {
        options.extend(fitting(*map, kernels, false));
    }
    if mode != PaddingMode::Same {
        options.extend(fitting(*map, kernels, true));
    }
    let out = |(k, p): (usize, usize)| {
        let h = window_output(map.0, k, stride, p).unwrap_or(1);
        let w = window_output(map.1, k, stride, p).unwrap_or(1);
        (h, w)
    };
    match options.into_iter().map(out).min() {
        Some(smallest) => {
            *map = smallest;
            true
        }
        None => false,
    }
}

/// The parameter lists with invalid entries dropped; an emptied list falls back to its
/// default, so generation never panics.
struct Lists {
    families: Vec<Family>,
    kernels: Vec<usize>,
    filters: Vec<usize>,
    pool_kernels: Vec<usize>,
    strides: Vec<usize>,
    fc_units: Vec<usize>,
    poly_degrees: Vec<u8>,
}

impl Lists {
    fn new(params: &SynthesisParams) -> Self {
        let defaults = SynthesisParams::default();
        fn keep<T: Copy>(values: &[T], ok: impl Fn(T) -> bool, default: &[T]) -> Vec<T> {
            let kept: Vec<T> = values.iter().copied().filter(|&v| ok(v)).collect();
            if kept.is_empty() {
                default.to_vec()
            } else {
                kept
            }
        }
        let window = |k: usize| (1..=11).contains(&k);
        Self {
            families: keep(&params.families, |_| true, &defaults.families),
            kernels: keep(&params.kernels, window, &defaults.kernels),
            filters: keep(&params.filters, |f| f > 0, &defaults.filters),
            pool_kernels: keep(&params.pool_kernels, window, &defaults.pool_kernels),
            strides: keep(&params.strides, |s| s > 0, &defaults.strides),
            fc_units: keep(&params.fc_units, |u| u > 0, &defaults.fc_units),
            poly_degrees: keep(&params.poly_degrees, |d| (2..=3).contains(&d), &[2, 3]),
        }
    }
}

/// The random generator of network `index` of a study seeded with `seed`.
fn network_rng(seed: u64, index: u32) -> ChaCha8Rng {
    let mut hasher = blake3::Hasher::new_derive_key("snni-lab synthesis network seed v1");
    hasher.update(&seed.to_le_bytes());
    hasher.update(&index.to_le_bytes());
    ChaCha8Rng::from_seed(*hasher.finalize().as_bytes())
}

/// Builds network `index` of a study seeded with `seed`: deterministic (byte-identical YAML for
/// the same inputs), independent of other indices, named `synth-{index:04}`, with
/// [`Network::family`] set to the family name, and always valid.
///
/// Parameters with issues do not make it panic: invalid list entries are skipped (an emptied
/// list falls back to its default) and a network may end before `layers.min` blocks when no
/// kernel fits; call [`SynthesisParams::validate`] first to rule that out.
pub fn generate(params: &SynthesisParams, seed: u64, index: u32) -> Network {
    let lists = Lists::new(params);
    let mut rng = network_rng(seed, index);
    let family = lists.families[rng.random_range(0..lists.families.len())];
    let blocks = rng.random_range(params.layers.min..=params.layers.max.max(params.layers.min));
    let name = format!("synth-{index:04}");
    let mut generator = Generator {
        params,
        lists: &lists,
        rng,
        builder: NetworkBuilder::new(name, family.as_str(), params.input),
        map: params.input,
    };
    for block in 1..=blocks {
        if !generator.block(family, block) {
            break;
        }
    }
    if generator.chance(params.fc_head_prob) {
        generator.head();
    }
    if generator.builder.is_empty() {
        generator.builder.push("flatten", Op::Flatten {});
    }
    generator.builder.build()
}

/// A sliding window chosen for the current map.
struct Window {
    kernel: usize,
    stride: usize,
    padding: usize,
    output: (usize, usize),
}

/// The state of one network being generated.
struct Generator<'a> {
    params: &'a SynthesisParams,
    lists: &'a Lists,
    rng: ChaCha8Rng,
    builder: NetworkBuilder,
    /// Shape of the last layer's output.
    map: Shape,
}

impl Generator<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    /// Draws a fitting kernel, its padding and a stride; `None` if no kernel fits.
    fn window(&mut self, kernels: &[usize]) -> Option<Window> {
        let valid_first = match self.params.padding {
            PaddingMode::Same => false,
            PaddingMode::Valid => true,
            PaddingMode::Random => self.chance(0.5),
        };
        let map = (self.map.h, self.map.w);
        let mut options = fitting(map, kernels, valid_first);
        if options.is_empty() && self.params.padding == PaddingMode::Random {
            options = fitting(map, kernels, !valid_first);
        }
        if options.is_empty() {
            return None;
        }
        let (kernel, padding) = self.pick(&options);
        let stride = self.pick(&self.lists.strides);
        let h = window_output(map.0, kernel, stride, padding)?;
        let w = window_output(map.1, kernel, stride, padding)?;
        Some(Window {
            kernel,
            stride,
            padding,
            output: (h, w),
        })
    }

    /// Appends block `block` of `family`; false if its main layer does not fit.
    fn block(&mut self, family: Family, block: usize) -> bool {
        if family.has_conv() && !self.conv(block) {
            return false;
        }
        match family.pool_is_max() {
            Some(max) => self.pool(block, max) || family.has_conv(),
            None => true,
        }
    }

    /// Appends conv, optional batch norm and activation.
    fn conv(&mut self, block: usize) -> bool {
        let Some(window) = self.window(&self.lists.kernels) else {
            return false;
        };
        let spatial = (window.output.0 * window.output.1) as u64;
        let budget = self.params.max_activation as u64;
        let fitting: Vec<usize> = (self.lists.filters.iter().copied())
            .filter(|&f| spatial * f as u64 <= budget)
            .collect();
        let filters = if fitting.is_empty() {
            self.lists.filters.iter().copied().min().unwrap_or(16)
        } else {
            self.pick(&fitting)
        };
        let op = Op::conv(
            filters,
            window.kernel,
            window.stride,
            window.padding,
            self.params.conv_bias,
        );
        self.builder.push(format!("conv{block}"), op);
        self.map = Shape::new(window.output.0, window.output.1, filters);
        if self.chance(self.params.batch_norm_prob) {
            self.builder.push(format!("bn{block}"), Op::BatchNorm {});
        }
        if self.chance(self.params.poly_act_prob) {
            let degree = self.pick(&self.lists.poly_degrees);
            let fraction = self.relu_fraction();
            self.builder
                .push(format!("poly{block}"), Op::poly_act(degree, fraction));
        } else {
            self.builder.push(format!("relu{block}"), Op::Relu {});
        }
        true
    }

    /// Appends a max or average pool; false if no pool kernel fits.
    fn pool(&mut self, block: usize, max: bool) -> bool {
        let Some(window) = self.window(&self.lists.pool_kernels) else {
            return false;
        };
        let (k, s, p) = (window.kernel, window.stride, window.padding);
        let op = if max {
            Op::max_pool(k, s, p)
        } else {
            Op::avg_pool(k, s, p)
        };
        self.builder.push(format!("pool{block}"), op);
        self.map = Shape::new(window.output.0, window.output.1, self.map.c);
        true
    }

    /// A ReLU fraction on the 0.05 grid within `relu_fraction`.
    fn relu_fraction(&mut self) -> f64 {
        let clean = |x: f64| {
            if x.is_finite() {
                x.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        let (min, max) = (
            clean(self.params.relu_fraction.min),
            clean(self.params.relu_fraction.max),
        );
        let lo = (min * 20.0 - 1e-9).ceil() as u32;
        let hi = (max * 20.0 + 1e-9).floor() as u32;
        if lo > hi {
            return min;
        }
        f64::from(self.rng.random_range(lo..=hi)) / 20.0
    }

    /// Appends flatten (or global pooling) → fc → relu → fc.
    fn head(&mut self) {
        if self.map.elements() > self.params.fc_max_inputs as u64 {
            self.builder.push("gap", Op::GlobalAvgPool {});
        } else {
            self.builder.push("flatten", Op::Flatten {});
        }
        let units = self.pick(&self.lists.fc_units);
        self.builder.push("fc1", Op::fc(units, true));
        self.builder.push("fc1_relu", Op::Relu {});
        let classes = if self.params.classes > 0 {
            self.params.classes
        } else {
            10
        };
        self.builder.push("fc2", Op::fc(classes, true));
        self.map = Shape::flat(classes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snni_engine::network::OpKind;

    /// `path: message (hint: …)`, with list indices as `[i]`.
    fn show(issue: &ParamIssue) -> String {
        let mut text = String::new();
        for (i, part) in issue.path.iter().enumerate() {
            if part.parse::<usize>().is_ok() {
                text += &format!("[{part}]");
            } else if i == 0 {
                text += part;
            } else {
                text += &format!(".{part}");
            }
        }
        text += &format!(": {}", issue.message);
        if let Some(hint) = &issue.hint {
            text += &format!(" (hint: {hint})");
        }
        text
    }

    fn small() -> SynthesisParams {
        SynthesisParams {
            input: Shape::new(32, 32, 3),
            ..SynthesisParams::default()
        }
    }

    #[test]
    fn defaults_have_no_issues() {
        assert_eq!(SynthesisParams::default().validate(), []);
        assert_eq!(small().validate(), []);
    }

    #[test]
    fn same_inputs_give_identical_yaml() {
        let params = SynthesisParams::default();
        for index in [0, 1, 17, 499] {
            let a = generate(&params, 42, index).to_yaml_string().unwrap();
            let b = generate(&params, 42, index).to_yaml_string().unwrap();
            assert_eq!(a, b);
        }
        let first = generate(&params, 42, 0);
        assert_eq!(first.name, "synth-0000");
        assert_eq!(generate(&params, 42, 123).name, "synth-0123");
        for index in 1..20 {
            assert_ne!(
                generate(&params, 42, index).layers,
                first.layers,
                "index {index}"
            );
        }
        assert_ne!(generate(&params, 43, 0).layers, first.layers);
    }

    #[test]
    fn every_family_appears_in_fifty_networks() {
        let params = SynthesisParams::default();
        let mut seen: Vec<String> = (0..50).map(|i| generate(&params, 7, i).family).collect();
        seen.sort();
        seen.dedup();
        let mut all: Vec<String> = Family::ALL.iter().map(|f| f.as_str().to_owned()).collect();
        all.sort();
        assert_eq!(seen, all);
    }

    fn check_network(params: &SynthesisParams, network: &Network) {
        let shapes = network.validate().unwrap_or_else(|err| {
            panic!(
                "{}: {err}\n{}",
                network.name,
                network.to_yaml_string().unwrap()
            )
        });
        let family = Family::ALL
            .into_iter()
            .find(|f| f.as_str() == network.family)
            .expect("a known family");
        let main = if family.has_conv() {
            OpKind::Conv
        } else if family.pool_is_max() == Some(true) {
            OpKind::MaxPool
        } else {
            OpKind::AvgPool
        };
        let blocks = network
            .layers
            .iter()
            .filter(|l| l.op.kind() == main)
            .count();
        assert!(
            (params.layers.min..=params.layers.max).contains(&blocks),
            "{}: {blocks} blocks",
            network.name
        );
        let fcs: Vec<&Op> = network
            .layers
            .iter()
            .map(|l| &l.op)
            .filter(|op| op.kind() == OpKind::Fc)
            .collect();
        for (layer, info) in network.layers.iter().zip(shapes.iter()) {
            match layer.op {
                Op::Conv {
                    filters,
                    kernel,
                    stride,
                    padding,
                    bias,
                } => {
                    assert!(params.kernels.contains(&kernel.h) && kernel.h == kernel.w);
                    assert!(params.filters.contains(&filters));
                    assert!(params.strides.contains(&stride));
                    assert!(padding == 0 || padding == (kernel.h - 1) / 2);
                    assert_eq!(bias, params.conv_bias);
                    assert!(info.output.elements() <= params.max_activation as u64);
                }
                Op::MaxPool {
                    kernel,
                    stride,
                    padding,
                }
                | Op::AvgPool {
                    kernel,
                    stride,
                    padding,
                } => {
                    assert!(params.pool_kernels.contains(&kernel.h) && kernel.h == kernel.w);
                    assert!(params.strides.contains(&stride));
                    assert!(padding == 0 || padding == (kernel.h - 1) / 2);
                    if !family.has_conv() {
                        assert_eq!(info.output.c, params.input.c);
                    }
                }
                Op::Fc { units, .. } => {
                    if std::ptr::eq(&layer.op, *fcs.last().unwrap()) {
                        assert_eq!(units, params.classes);
                    } else {
                        assert!(params.fc_units.contains(&units));
                        assert!(info.inputs[0].elements() <= params.fc_max_inputs as u64);
                    }
                }
                Op::PolyAct {
                    degree,
                    relu_fraction,
                } => {
                    assert!(params.poly_degrees.contains(&degree));
                    let range = params.relu_fraction;
                    assert!((range.min..=range.max).contains(&relu_fraction));
                    assert_eq!((relu_fraction * 20.0).round() / 20.0, relu_fraction);
                }
                Op::BatchNorm {} | Op::Relu {} | Op::Flatten {} | Op::GlobalAvgPool {} => {}
                Op::Add {} | Op::Concat {} => panic!("synthesis makes chains only"),
            }
        }
        assert_eq!(
            shapes.output(),
            Shape::flat(params.classes),
            "{}",
            network.name
        );
    }

    #[test]
    fn five_hundred_networks_validate_and_stay_in_range() {
        for params in [SynthesisParams::default(), small()] {
            for index in 0..500 {
                check_network(&params, &generate(&params, 2024, index));
            }
        }
    }

    #[test]
    fn other_settings_stay_valid() {
        let settings = [
            SynthesisParams {
                padding: PaddingMode::Valid,
                ..small()
            },
            SynthesisParams {
                padding: PaddingMode::Same,
                pool_kernels: vec![2, 3],
                ..small()
            },
            SynthesisParams {
                poly_act_prob: 0.5,
                relu_fraction: Range {
                    min: 0.25,
                    max: 0.75,
                },
                strides: vec![2],
                layers: Range { min: 8, max: 12 },
                ..small()
            },
            SynthesisParams {
                input: Shape::new(9, 9, 1),
                padding: PaddingMode::Valid,
                layers: Range { min: 1, max: 3 },
                ..SynthesisParams::default()
            },
        ];
        for params in settings {
            assert_eq!(params.validate(), [], "{params:?}");
            for index in 0..200 {
                check_network(&params, &generate(&params, 5, index));
            }
        }
    }

    #[test]
    fn poly_act_appears_when_enabled() {
        let params = SynthesisParams {
            poly_act_prob: 1.0,
            ..small()
        };
        let kinds: Vec<OpKind> = (0..20)
            .flat_map(|i| generate(&params, 1, i).layers)
            .map(|l| l.op.kind())
            .collect();
        assert!(kinds.contains(&OpKind::PolyAct));
        let off: Vec<OpKind> = (0..20)
            .flat_map(|i| generate(&small(), 1, i).layers)
            .map(|l| l.op.kind())
            .collect();
        assert!(!off.contains(&OpKind::PolyAct));
    }

    #[test]
    fn reports_every_issue_with_its_path() {
        let params = SynthesisParams {
            input: Shape::new(0, 32, 3),
            families: vec![],
            layers: Range { min: 6, max: 4 },
            kernels: vec![3, 0, 13],
            filters: vec![],
            strides: vec![0],
            batch_norm_prob: 1.5,
            fc_head_prob: f64::NAN,
            poly_act_prob: 0.1,
            poly_degrees: vec![4],
            relu_fraction: Range { min: 0.8, max: 0.2 },
            classes: 0,
            ..SynthesisParams::default()
        };
        let issues: Vec<String> = params.validate().iter().map(show).collect();
        let expected = [
            "input.h: must be at least 1",
            "families: must list at least one family (hint: choose from conv, conv_maxpool, conv_avgpool, maxpool, avgpool)",
            "layers.max: must be at least layers.min (6)",
            "kernels[1]: must be between 1 and 11, got 0",
            "kernels[2]: must be between 1 and 11, got 13",
            "strides[0]: must be at least 1",
            "classes: must be at least 1",
            "batch_norm_prob: must be a probability between 0 and 1, got 1.5",
            "fc_head_prob: must be a probability between 0 and 1, got NaN",
            "poly_degrees[0]: must be 2 or 3, got 4",
            "relu_fraction.max: must be at least relu_fraction.min (0.8)",
        ];
        assert_eq!(issues, expected);
        let issue = &params.validate()[2];
        assert_eq!(issue.path, ["layers", "max"]);
        assert_eq!(issue.message, "must be at least layers.min (6)");
    }

    #[test]
    fn reports_inputs_too_small_for_the_depth() {
        let params = SynthesisParams {
            input: Shape::new(16, 16, 3),
            padding: PaddingMode::Valid,
            kernels: vec![5, 7],
            pool_kernels: vec![3],
            filters: vec![16],
            ..SynthesisParams::default()
        };
        let issues = params.validate();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, ["layers", "min"]);
        assert!(
            issues[0]
                .message
                .starts_with("input 16x16 is too small for 5 conv blocks"),
            "{}",
            show(&issues[0])
        );
        let params = SynthesisParams {
            input: Shape::new(600, 600, 3),
            ..SynthesisParams::default()
        };
        let issues = params.validate();
        assert_eq!(issues[0].path, ["max_activation"], "{issues:?}");
    }

    #[test]
    fn reads_partial_yaml_and_rejects_unknown_keys() {
        let params: SynthesisParams = serde_yaml::from_str(
            "families: [conv, maxpool]\nlayers: {min: 2, max: 3}\npadding: same\n",
        )
        .unwrap();
        assert_eq!(params.families, [Family::Conv, Family::Maxpool]);
        assert_eq!(params.kernels, SynthesisParams::default().kernels);
        let err = serde_yaml::from_str::<SynthesisParams>("layer: {min: 2, max: 3}").unwrap_err();
        assert!(err.to_string().contains("unknown field `layer`"), "{err}");
        assert!(serde_yaml::from_str::<SynthesisParams>("families: [resnet]").is_err());
        let yaml = serde_yaml::to_string(&SynthesisParams::default()).unwrap();
        let back: SynthesisParams = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, SynthesisParams::default());
    }
}
