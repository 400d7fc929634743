//! SqueezeNet 1.1 as in torchvision.
//!
//! Conv 3×3/2 (64) + ReLU; max pool 3×3/2; fire2, fire3; max pool; fire4, fire5; max pool;
//! fire6 to fire9; conv10 1×1 (1000) + ReLU; global average pool; flatten. A fire module is a
//! squeeze 1×1 conv + ReLU feeding an expand 1×1 and an expand 3×3 conv (each + ReLU) whose
//! outputs are concatenated. All convolutions have a bias; there is no batch norm.
//!
//! torchvision's max pools use `ceil_mode`, while our shape formula is PyTorch's floor. The
//! builder gives each pool the padding (0 or 1) for which the floor formula yields the
//! ceil-mode size, so shapes match torchvision at every square input (224 → 111 → 55 → 27 →
//! 13). The padded windows sit one pixel further left than torchvision's; cost is the same.
//! For non-square inputs whose sides differ in parity one side may be one pixel off.

use crate::network::{window_output, Network, NetworkBuilder, Op, Shape};

/// Squeeze and expand channels of fire2 to fire9.
const FIRES: [(usize, usize); 8] = [
    (16, 64),
    (16, 64),
    (32, 128),
    (32, 128),
    (48, 192),
    (48, 192),
    (64, 256),
    (64, 256),
];

/// SqueezeNet 1.1 on `input` (torchvision: 1,235,496 parameters at any input size).
///
/// Shapes at 224×224×3: conv1 111×111×64, pools 55, 27 and 13, fire2/3 128 channels, fire4/5
/// 256, fire6/7 384, fire8/9 512, conv10 13×13×1000. The smallest square input is 17×17:
/// below it the third max pool meets a 1×1 map.
pub fn squeezenet(input: Shape) -> Network {
    let mut b = NetworkBuilder::new("squeezenet", "squeezenet", input);
    b.push("conv1", Op::conv(64, 3, 2, 0, true));
    b.push("relu1", Op::Relu {});
    let mut side = window_output(input.h, 3, 2, 0).unwrap_or(0);
    for (i, &(squeeze, expand)) in FIRES.iter().enumerate() {
        let fire = i + 2;
        if matches!(fire, 2 | 4 | 6) {
            let padding = ceil_mode_padding(side, 3, 2);
            b.push(format!("maxpool{}", fire - 1), Op::max_pool(3, 2, padding));
            side = window_output(side, 3, 2, padding).unwrap_or(0);
        }
        fire_module(&mut b, &format!("fire{fire}"), squeeze, expand);
    }
    b.push("conv10", Op::conv(1000, 1, 1, 0, true));
    b.push("relu10", Op::Relu {});
    b.push("avgpool10", Op::GlobalAvgPool {});
    b.push("flatten", Op::Flatten {});
    b.build()
}

/// Appends a fire module reading the last layer.
fn fire_module(b: &mut NetworkBuilder, prefix: &str, squeeze: usize, expand: usize) {
    b.push(
        format!("{prefix}.squeeze"),
        Op::conv(squeeze, 1, 1, 0, true),
    );
    let squeezed = b.push(format!("{prefix}.squeeze_relu"), Op::Relu {});
    b.push(
        format!("{prefix}.expand1x1"),
        Op::conv(expand, 1, 1, 0, true),
    );
    let e1 = b.push(format!("{prefix}.expand1x1_relu"), Op::Relu {});
    let conv = Op::conv(expand, 3, 1, 1, true);
    b.push_from(format!("{prefix}.expand3x3"), conv, &[&squeezed]);
    let e3 = b.push(format!("{prefix}.expand3x3_relu"), Op::Relu {});
    b.push_from(format!("{prefix}.concat"), Op::Concat {}, &[&e1, &e3]);
}

/// The padding (at most `kernel / 2`) with which the floor formula gives PyTorch's ceil-mode
/// output size for a side of `n` (a window may overhang the right edge but must start inside
/// the input); 0 if there is none, leaving the error to validation.
fn ceil_mode_padding(n: usize, kernel: usize, stride: usize) -> usize {
    let Some(span) = (n + stride).checked_sub(kernel + 1) else {
        return 0;
    };
    let mut ceil = span / stride + 1;
    if (ceil - 1) * stride >= n {
        ceil -= 1;
    }
    (0..=kernel / 2)
        .find(|&p| window_output(n, kernel, stride, p) == Some(ceil))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_shapes_at_224() {
        let shapes = squeezenet(Shape::new(224, 224, 3)).validate().unwrap();
        let at = |name: &str| shapes.get(name).unwrap().output.to_string();
        assert_eq!(at("conv1"), "111x111x64");
        assert_eq!(at("maxpool1"), "55x55x64");
        assert_eq!(at("fire2.squeeze"), "55x55x16");
        assert_eq!(at("fire2.concat"), "55x55x128");
        assert_eq!(at("maxpool3"), "27x27x128");
        assert_eq!(at("fire5.concat"), "27x27x256");
        assert_eq!(at("maxpool5"), "13x13x256");
        assert_eq!(at("fire7.concat"), "13x13x384");
        assert_eq!(at("fire9.concat"), "13x13x512");
        assert_eq!(at("conv10"), "13x13x1000");
    }

    #[test]
    fn pools_follow_ceil_mode() {
        // torchvision sizes at 226 (conv1 gives an even 112): ceil mode 112 → 56 → 28 → 14.
        let shapes = squeezenet(Shape::new(226, 226, 3)).validate().unwrap();
        let at = |name: &str| shapes.get(name).unwrap().output.h;
        assert_eq!(
            [at("maxpool1"), at("maxpool3"), at("maxpool5")],
            [56, 28, 14]
        );
        assert_eq!(ceil_mode_padding(112, 3, 2), 1);
        assert_eq!(ceil_mode_padding(111, 3, 2), 0);
        assert_eq!(ceil_mode_padding(2, 3, 2), 1);
        assert_eq!(ceil_mode_padding(1, 3, 2), 0);
    }
}
