//! Property test: networks with random layer parameters up to `u32::MAX` never panic —
//! validation either accepts them, and then the engine's planners (HE packing, OT costs,
//! rounds) run on them without panicking, or rejects them with an error that names the
//! layer. Shapes and costs are checked arithmetic (`network/limits.rs`), so this holds in
//! debug builds (overflow panics) and release builds (overflow would wrap) alike.
//!
//! `PROPTEST_CASES=N` sets the number of cases (default 256; BENCHMARKS.md, "Fuzzing").

use proptest::prelude::*;
use snni_engine::he::HeParamsDesc;
use snni_engine::network::{Kernel, Layer, Network, NetworkError, Op, Shape, INPUT};
use snni_engine::runtime::ExecPlan;

/// A size: mostly small and realistic, sometimes large, sometimes anything up to u32::MAX.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..=16,
        2 => 0usize..=4096,
        1 => 0usize..=65_537,
        2 => 0usize..=u32::MAX as usize,
        1 => Just(u32::MAX as usize),
    ]
}

fn kernel() -> impl Strategy<Value = Kernel> {
    prop_oneof![
        3 => (0usize..=12).prop_map(Kernel::square),
        1 => (size(), size()).prop_map(|(h, w)| Kernel::new(h, w)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (size(), kernel(), size(), size(), any::<bool>()).prop_map(
            |(filters, kernel, stride, padding, bias)| Op::Conv {
                filters,
                kernel,
                stride,
                padding,
                bias,
            }
        ),
        (size(), any::<bool>()).prop_map(|(units, bias)| Op::Fc { units, bias }),
        Just(Op::BatchNorm {}),
        Just(Op::Relu {}),
        (kernel(), size(), size()).prop_map(|(kernel, stride, padding)| Op::MaxPool {
            kernel,
            stride,
            padding
        }),
        (kernel(), size(), size()).prop_map(|(kernel, stride, padding)| Op::AvgPool {
            kernel,
            stride,
            padding
        }),
        Just(Op::GlobalAvgPool {}),
        Just(Op::Add {}),
        Just(Op::Concat {}),
        Just(Op::Flatten {}),
        (0u8..=4, prop_oneof![0.0..=1.0, Just(f64::NAN), Just(2.0)]).prop_map(
            |(degree, relu_fraction)| Op::PolyAct {
                degree,
                relu_fraction
            }
        ),
    ]
}

/// A network of 1 to 5 layers; `add` and `concat` read the previous layer twice (or the
/// input), so their shapes can match.
fn network() -> impl Strategy<Value = Network> {
    let input = prop_oneof![
        3 => (1usize..=64, 1usize..=64, 1usize..=64),
        1 => (size(), size(), size()),
    ];
    (input, prop::collection::vec(op(), 1..=5)).prop_map(|((h, w, c), ops)| {
        let mut layers = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            let previous = if i == 0 {
                INPUT.to_string()
            } else {
                format!("l{}", i - 1)
            };
            let inputs = match op {
                Op::Add {} | Op::Concat {} => vec![previous.clone(), previous],
                _ => Vec::new(),
            };
            layers.push(Layer::with_inputs(format!("l{i}"), op, inputs));
        }
        Network {
            name: "random".into(),
            family: "custom".into(),
            input: Shape::new(h, w, c),
            layers,
        }
    })
}

/// The planners' time and memory grow with a network's operations (the max-pool planner
/// lists every window), so only networks up to this many are planned here.
const PLANNED_WORK: u64 = 1 << 24;

/// Errors about one layer name it; the others are about the input or the whole network.
fn names_its_place(err: &NetworkError) -> bool {
    let text = err.to_string();
    text.starts_with("layer ")
        || text.starts_with("network input ")
        || text.starts_with("network 'random'")
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_networks_never_panic(network in network()) {
        match network.validate() {
            Ok(shapes) => {
                for layer in &shapes {
                    prop_assert!(layer.output.elements() <= snni_engine::network::MAX_ELEMENTS);
                    prop_assert!(layer.costs.macs <= snni_engine::network::MAX_COUNT);
                }
                prop_assert!(shapes.param_count() <= snni_engine::network::MAX_COUNT);
                let he = HeParamsDesc::for_bitlen(41).unwrap();
                // The planners may refuse a layer (e.g. one they cannot pack), but never panic.
                // Their time grows with the network's size, so only moderate ones are planned.
                let work: u64 = shapes
                    .iter()
                    .map(|l| l.costs.flops.max(l.output.elements()))
                    .sum();
                if work <= PLANNED_WORK {
                    let _ = ExecPlan::new(&network, &he, 12);
                }
            }
            Err(err) => prop_assert!(names_its_place(&err), "{err}"),
        }
    }
}

/// The probes of issue 16: each is a positioned error, not a panic.
#[test]
fn the_reported_overflows_are_errors_naming_the_layer() {
    let tiny = |input: Shape, op: Op| Network {
        name: "n".into(),
        family: "custom".into(),
        input,
        layers: vec![Layer::new("first", op)],
    };
    let cases = [
        (
            tiny(Shape::new(4_000_000_000, 4, 3), Op::Relu {}),
            "network input 4000000000x4x3: its height is 4000000000, more than the limit of 65536",
        ),
        (
            tiny(Shape::new(8, 8, 3), Op::conv(16, 3, 1, 1 << 32, false)),
            "layer 0 'first': conv padding is 4294967296, more than the limit of 65536",
        ),
        (
            tiny(Shape::flat(1 << 31), Op::fc(u32::MAX as usize, true)),
            "layer 0 'first': fc weights is 9223372034707292160, more than the limit",
        ),
        (
            Network {
                layers: vec![Layer::with_inputs("first", Op::Concat {}, [INPUT, INPUT])],
                ..tiny(Shape::flat((1 << 31) + 1), Op::Relu {})
            },
            "layer 0 'first': concat output elements is 4294967298, more than the limit of 4294967296",
        ),
        (
            tiny(Shape::new(65_536, 65_536, 2), Op::Relu {}),
            "network input 65536x65536x2: its elements is 8589934592, more than the limit of 4294967296",
        ),
        (
            tiny(Shape::flat(1 << 30), Op::fc(1 << 30, true)),
            "layer 0 'first': fc weights is 1152921504606846976, more than the limit of 9007199254740992",
        ),
    ];
    for (network, expected) in cases {
        let err = network.validate().unwrap_err().to_string();
        assert!(err.starts_with(expected), "{err}\nexpected: {expected}");
    }
}
