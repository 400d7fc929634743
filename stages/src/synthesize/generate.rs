//! [`generate`]: builds one random network from the parameters and `(seed, index)` alone,
//! block by block, choosing only windows that fit the current map.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snni_engine::network::{window_output, Network, NetworkBuilder, Op, Shape};

use super::params::Lists;
use super::{Family, PaddingMode, SynthesisParams};

/// The padded kernels a layer may use on `map` under `mode`, `same` or `valid` style first.
pub(super) fn fitting(map: (usize, usize), kernels: &[usize], valid: bool) -> Vec<(usize, usize)> {
    kernels
        .iter()
        .map(|&k| (k, if valid { 0 } else { (k - 1) / 2 }))
        .filter(|&(k, p)| {
            window_output(map.0, k, 1, p).is_some() && window_output(map.1, k, 1, p).is_some()
        })
        .collect()
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
    use crate::synthesize::test_util::small;
    use crate::synthesize::Range;
    use snni_engine::network::OpKind;

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
}
