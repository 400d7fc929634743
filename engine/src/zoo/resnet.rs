//! ResNet-50 as in torchvision (v1.5: the stride sits on the 3×3 convolution).
//!
//! Stem conv 7×7/2 + BN + ReLU + max pool 3×3/2; four stages of 3, 4, 6 and 3 bottleneck
//! blocks (1×1 → 3×3 → 1×1, expansion 4), convolutions without bias and each followed by BN;
//! the first block of a stage has a projection shortcut (1×1 conv + BN); add, then ReLU;
//! global average pool, flatten, fc 1000.

use crate::network::{Network, NetworkBuilder, Op, Shape};

/// Bottleneck blocks per stage.
const BLOCKS: [usize; 4] = [3, 4, 6, 3];
/// Width of the 3×3 convolution per stage; blocks output four times as many channels.
const WIDTHS: [usize; 4] = [64, 128, 256, 512];
/// Output channels of a bottleneck relative to its width.
const EXPANSION: usize = 4;

/// ResNet-50 on `input` (torchvision: 25,557,032 parameters at any input size).
///
/// Shapes at 224×224×3: stem 112×112×64, after the max pool 56×56×64, stages 56×56×256,
/// 28×28×512, 14×14×1024 and 7×7×2048. Every padded window fits any input, so it validates
/// down to 1×1 (with 1×1 maps from the deeper stages on).
pub fn resnet50(input: Shape) -> Network {
    let mut b = NetworkBuilder::new("resnet50", "resnet", input);
    b.push("conv1", Op::conv(64, 7, 2, 3, false));
    b.push("bn1", Op::BatchNorm {});
    b.push("relu", Op::Relu {});
    b.push("maxpool", Op::max_pool(3, 2, 1));
    let mut channels = 64;
    for (stage, (&blocks, &width)) in BLOCKS.iter().zip(&WIDTHS).enumerate() {
        for block in 0..blocks {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let prefix = format!("layer{}.{block}", stage + 1);
            channels = bottleneck(&mut b, &prefix, channels, width, stride);
        }
    }
    b.push("avgpool", Op::GlobalAvgPool {});
    b.push("flatten", Op::Flatten {});
    b.push("fc", Op::fc(1000, true));
    b.build()
}

/// Appends one bottleneck block reading the last layer; returns its output channels.
fn bottleneck(
    b: &mut NetworkBuilder,
    prefix: &str,
    in_channels: usize,
    width: usize,
    stride: usize,
) -> usize {
    let out = width * EXPANSION;
    let x = b.last().to_owned();
    b.push(format!("{prefix}.conv1"), Op::conv(width, 1, 1, 0, false));
    b.push(format!("{prefix}.bn1"), Op::BatchNorm {});
    b.push(format!("{prefix}.relu1"), Op::Relu {});
    b.push(
        format!("{prefix}.conv2"),
        Op::conv(width, 3, stride, 1, false),
    );
    b.push(format!("{prefix}.bn2"), Op::BatchNorm {});
    b.push(format!("{prefix}.relu2"), Op::Relu {});
    b.push(format!("{prefix}.conv3"), Op::conv(out, 1, 1, 0, false));
    let main = b.push(format!("{prefix}.bn3"), Op::BatchNorm {});
    let shortcut = if stride != 1 || in_channels != out {
        let conv = Op::conv(out, 1, stride, 0, false);
        b.push_from(format!("{prefix}.downsample.0"), conv, &[&x]);
        b.push(format!("{prefix}.downsample.1"), Op::BatchNorm {})
    } else {
        x
    };
    b.push_from(format!("{prefix}.add"), Op::Add {}, &[&main, &shortcut]);
    b.push(format!("{prefix}.relu3"), Op::Relu {});
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_shapes_at_224() {
        let shapes = resnet50(Shape::new(224, 224, 3)).validate().unwrap();
        let at = |name: &str| shapes.get(name).unwrap().output.to_string();
        assert_eq!(at("conv1"), "112x112x64");
        assert_eq!(at("maxpool"), "56x56x64");
        assert_eq!(at("layer1.0.downsample.1"), "56x56x256");
        assert_eq!(at("layer1.2.relu3"), "56x56x256");
        assert_eq!(at("layer2.0.conv2"), "28x28x128");
        assert_eq!(at("layer2.3.relu3"), "28x28x512");
        assert_eq!(at("layer3.5.relu3"), "14x14x1024");
        assert_eq!(at("layer4.2.relu3"), "7x7x2048");
        assert_eq!(at("avgpool"), "1x1x2048");
        // 53 conv + 53 bn + 49 relu + 16 add + max pool, global pool, flatten, fc.
        assert_eq!(shapes.layers.len(), 53 + 53 + 49 + 16 + 4);
    }

    #[test]
    fn identity_shortcuts_read_the_block_input() {
        let network = resnet50(Shape::new(224, 224, 3));
        let add = network
            .layers
            .iter()
            .find(|layer| layer.name == "layer1.1.add")
            .unwrap();
        assert_eq!(add.inputs, ["layer1.1.bn3", "layer1.0.relu3"]);
    }
}
