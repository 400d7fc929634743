//! DenseNet-121 as in torchvision (growth rate 32, bottleneck width 4·32, compression 0.5).
//!
//! Stem conv 7×7/2 + BN + ReLU + max pool 3×3/2; dense blocks of 6, 12, 24 and 16 layers,
//! each BN-ReLU-conv 1×1 (128)-BN-ReLU-conv 3×3 (32) whose output is concatenated to its
//! input; transitions BN-ReLU-conv 1×1 (half the channels)-avg pool 2×2/2; final BN, ReLU,
//! global average pool, flatten, fc 1000.

use crate::network::{Network, NetworkBuilder, Op, Shape};

/// Layers per dense block.
const BLOCKS: [usize; 4] = [6, 12, 24, 16];
/// Channels each dense layer adds.
const GROWTH: usize = 32;
/// Width of the bottleneck 1×1 convolution, as a multiple of the growth rate.
const BN_SIZE: usize = 4;
/// Channels of the stem.
const STEM: usize = 64;

/// DenseNet-121 on `input` (torchvision: 7,978,856 parameters at any input size).
///
/// Shapes at 224×224×3: stem 112×112×64, after the max pool 56×56×64, blocks 56×56×256,
/// 28×28×512, 14×14×1024 and 7×7×1024 (transitions halve channels and size). The smallest
/// square input is 29×29: below it the last transition's 2×2 pool meets a 1×1 map.
pub fn densenet121(input: Shape) -> Network {
    let mut b = NetworkBuilder::new("densenet121", "densenet", input);
    b.push("conv0", Op::conv(STEM, 7, 2, 3, false));
    b.push("norm0", Op::BatchNorm {});
    b.push("relu0", Op::Relu {});
    b.push("pool0", Op::max_pool(3, 2, 1));
    let mut channels = STEM;
    for (i, &layers) in BLOCKS.iter().enumerate() {
        let block = i + 1;
        for layer in 1..=layers {
            dense_layer(&mut b, &format!("denseblock{block}.denselayer{layer}"));
            channels += GROWTH;
        }
        if block < BLOCKS.len() {
            channels /= 2;
            let prefix = format!("transition{block}");
            b.push(format!("{prefix}.norm"), Op::BatchNorm {});
            b.push(format!("{prefix}.relu"), Op::Relu {});
            b.push(format!("{prefix}.conv"), Op::conv(channels, 1, 1, 0, false));
            b.push(format!("{prefix}.pool"), Op::avg_pool(2, 2, 0));
        }
    }
    b.push("norm5", Op::BatchNorm {});
    b.push("relu5", Op::Relu {});
    b.push("avgpool", Op::GlobalAvgPool {});
    b.push("flatten", Op::Flatten {});
    b.push("classifier", Op::fc(1000, true));
    b.build()
}

/// Appends one dense layer reading the last layer, ending in the concatenation of its input
/// and its `GROWTH` new channels.
fn dense_layer(b: &mut NetworkBuilder, prefix: &str) {
    let x = b.last().to_owned();
    b.push(format!("{prefix}.norm1"), Op::BatchNorm {});
    b.push(format!("{prefix}.relu1"), Op::Relu {});
    let width = BN_SIZE * GROWTH;
    b.push(format!("{prefix}.conv1"), Op::conv(width, 1, 1, 0, false));
    b.push(format!("{prefix}.norm2"), Op::BatchNorm {});
    b.push(format!("{prefix}.relu2"), Op::Relu {});
    let new = b.push(format!("{prefix}.conv2"), Op::conv(GROWTH, 3, 1, 1, false));
    b.push_from(format!("{prefix}.concat"), Op::Concat {}, &[&x, &new]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_shapes_at_224() {
        let shapes = densenet121(Shape::new(224, 224, 3)).validate().unwrap();
        let at = |name: &str| shapes.get(name).unwrap().output.to_string();
        assert_eq!(at("conv0"), "112x112x64");
        assert_eq!(at("pool0"), "56x56x64");
        assert_eq!(at("denseblock1.denselayer1.conv1"), "56x56x128");
        assert_eq!(at("denseblock1.denselayer1.concat"), "56x56x96");
        assert_eq!(at("denseblock1.denselayer6.concat"), "56x56x256");
        assert_eq!(at("transition1.pool"), "28x28x128");
        assert_eq!(at("denseblock2.denselayer12.concat"), "28x28x512");
        assert_eq!(at("transition2.pool"), "14x14x256");
        assert_eq!(at("denseblock3.denselayer24.concat"), "14x14x1024");
        assert_eq!(at("transition3.pool"), "7x7x512");
        assert_eq!(at("denseblock4.denselayer16.concat"), "7x7x1024");
        assert_eq!(at("avgpool"), "1x1x1024");
        // 120 conv + 1 fc = the 121 of the name.
        let weighted = shapes
            .iter()
            .filter(|layer| layer.costs.weight_elements > 0 && layer.costs.macs > 0)
            .count();
        assert_eq!(weighted, 121);
    }
}
